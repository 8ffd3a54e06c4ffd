"""One module per resource; app.create_app mounts them (see ROUTER_MODULES there)."""
