// Small line icons drawn as SVG, so they look the same on every system
// (emoji fonts are missing on many Linux desktops). Always aria-hidden:
// the button or badge next to them carries the words.

import { svg } from './dom.js';

const paths = {
  mic: ['M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z', 'M5 11a7 7 0 0 0 14 0', 'M12 18v3'],
  micOff: ['M9 9v3a3 3 0 0 0 5.1 2.1', 'M15 9.3V6a3 3 0 0 0-5.9-.8', 'M5 11a7 7 0 0 0 11.6 5.3', 'M19 11a7 7 0 0 1-.5 2.5', 'M12 18v3', 'M3 3l18 18'],
  hand: ['M8 13V5.5a1.5 1.5 0 0 1 3 0V12', 'M11 11V4.5a1.5 1.5 0 0 1 3 0V12', 'M14 11.5V6a1.5 1.5 0 0 1 3 0v7', 'M17 10.5a1.5 1.5 0 0 1 3 0V14a7 7 0 0 1-7 7h-1a7 7 0 0 1-5.6-2.8L3.5 15a1.5 1.5 0 0 1 2.3-1.9L8 15'],
  more: ['M5 12h.01', 'M12 12h.01', 'M19 12h.01'],
};

export function icon(name) {
  const el = svg('svg', { viewBox: '0 0 24 24', width: 18, height: 18, fill: 'none', stroke: 'currentColor',
    'stroke-width': name === 'more' ? 3 : 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', class: 'icon' });
  for (const d of paths[name]) el.append(svg('path', { d }));
  return el;
}
