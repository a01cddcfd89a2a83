package node

import (
	"net/http"

	"github.com/clubnode/clubnode/node/apiv1"
)

// routes maps the API's endpoints onto the node's operations. The guard in
// front of it (Serve) has already checked Host, Origin and token.
func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(apiv1.RouteID, func(w http.ResponseWriter, r *http.Request) {
		answer(w)(n.Identity(r.Context()))
	})
	mux.HandleFunc(apiv1.RouteCreateNetwork, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CreateNetworkRequest
		if readBody(w, r, &req) {
			answer(w)(n.CreateNetwork(r.Context(), req.Name))
		}
	})
	mux.HandleFunc(apiv1.RouteCreateInvite, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CreateInviteRequest
		if readBody(w, r, &req) {
			answer(w)(n.CreateInvite(r.Context(), req))
		}
	})
	mux.HandleFunc(apiv1.RouteJoin, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.JoinRequest
		if readBody(w, r, &req) {
			answer(w)(n.Join(r.Context(), req.Token))
		}
	})
	mux.HandleFunc(apiv1.RouteMembers, func(w http.ResponseWriter, r *http.Request) {
		answer(w)(n.Members())
	})
	mux.HandleFunc(apiv1.RouteProfile, func(w http.ResponseWriter, r *http.Request) {
		answer(w)(n.Profile(r.PathValue("peer")))
	})
	mux.HandleFunc(apiv1.RouteSetProfile, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.SetProfileRequest
		if readBody(w, r, &req) {
			answer(w)(n.SetProfile(r.Context(), req.Name, req.Bio))
		}
	})
	mux.HandleFunc(apiv1.RouteRevoke, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.RevokeRequest
		if readBody(w, r, &req) {
			answer(w)(n.Revoke(r.Context(), req.Peer, req.WithInvitees))
		}
	})
	mux.HandleFunc(apiv1.RoutePeers, func(w http.ResponseWriter, r *http.Request) {
		answer(w)(n.Peers(), nil)
	})
	mux.HandleFunc(apiv1.RouteHallway, func(w http.ResponseWriter, r *http.Request) {
		answer(w)(n.Hallway())
	})
	mux.HandleFunc(apiv1.RouteCreateRoom, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CreateRoomRequest
		if readBody(w, r, &req) {
			answer(w)(n.CreateRoom(r.Context(), req))
		}
	})
	mux.HandleFunc(apiv1.RouteRoom, func(w http.ResponseWriter, r *http.Request) {
		answer(w)(n.Room(r.PathValue("room")))
	})
	mux.HandleFunc(apiv1.RouteRoomAction, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.RoomActionRequest
		if readBody(w, r, &req) {
			answer(w)(n.RoomAction(r.Context(), r.PathValue("room"), r.PathValue("action"), req))
		}
	})
	mux.HandleFunc(apiv1.RouteFollow, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.FollowRequest
		if readBody(w, r, &req) {
			answer(w)(n.setFlag(r.Context(), prefFollows, req))
		}
	})
	mux.HandleFunc(apiv1.RouteBlock, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.FollowRequest
		if readBody(w, r, &req) {
			answer(w)(n.setFlag(r.Context(), prefBlocks, req))
		}
	})
	n.mediaRoutes(mux)
	n.uiRoutes(mux)
	return mux
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := apiv1.ReadJSON(r, v); err != nil {
		apiv1.WriteError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// answer writes an operation's result, or its error with the status the
// error deserves.
func answer(w http.ResponseWriter) func(any, error) {
	return func(v any, err error) {
		if err != nil {
			apiv1.WriteError(w, statusOf(err), err.Error())
			return
		}
		_ = apiv1.WriteJSON(w, http.StatusOK, v)
	}
}
