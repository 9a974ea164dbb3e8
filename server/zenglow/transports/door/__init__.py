"""The door: who may come in (API keys, client secrets, origins) and how much one client may
ask (sessions, event rates, bodies).  Applied once, to every route, by `DoorMiddleware`."""
