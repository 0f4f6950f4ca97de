"""HTTP blueprints of the kiosk: parse the request, call a service, commit, render."""
