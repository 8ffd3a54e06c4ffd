"""The node's Hysteria 2 server, run with the relay's inbound handler and restarted when the
`server` section changes (listen address, certificate)."""

from __future__ import annotations

import logging
from typing import Any

from hy2scale.hysteria import Hy2Server, ServerConfig
from hy2scale.hysteria.tls import self_signed

log = logging.getLogger("hy2scale.relay")


class NodeHy2Server:
    def __init__(self, node: Any, handler: Any) -> None:
        self.node = node
        self.handler = handler
        self.server: Hy2Server | None = None
        self._config: ServerConfig | None = None
        self._ephemeral: tuple[str, str] | None = None

    def _wanted(self) -> ServerConfig | None:
        section = self.node.store.sections.get("server")
        options = getattr(self.node, "options", None)
        listen = getattr(options, "hy2_listen", None) or section.get("listen", "")
        if not section.get("enabled", True) or not listen:
            return None
        cert, key = section.get("tls_cert", ""), section.get("tls_key", "")
        certs = getattr(self.node, "certs", None)
        if (not cert or not key) and certs is not None and certs.exists("default"):
            cert, key = str(certs.cert_path("default")), str(certs.key_path("default"))
        if not cert or not key:
            # No certificate configured: an ephemeral self-signed one, as the original does.
            if self._ephemeral is None:
                self._ephemeral = self_signed("hy2scale")
            cert, key = self._ephemeral
        return ServerConfig(listen=listen, cert=cert, key=key)

    async def start(self) -> None:
        config = self._wanted()
        if config is None:
            log.info("event=hy2_server_disabled")
            return
        server = Hy2Server(config, self.handler)
        await server.start()
        self.server, self._config = server, config
        log.info("event=hy2_server_started listen=%s", config.listen)

    async def reload(self) -> None:
        """Restart only when what the server is built from changed (a password change is live)."""
        wanted = self._wanted()
        if wanted == self._config:
            return
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        server, self.server, self._config = self.server, None, None
        if server is not None:
            await server.stop()
            log.info("event=hy2_server_stopped")
