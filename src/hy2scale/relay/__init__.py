"""The mesh: hy2scale relay protocol pv=3 over Hysteria 2 links.

Entry point for the node: :class:`hy2scale.relay.manager.RelayManager`; services dial through
:class:`hy2scale.relay.exits.ExitDialer` (``node.exits``). Kept import-free so that importing
``relay.exits`` (for ``ExitRoute``) does not pull in the whole part.
"""
