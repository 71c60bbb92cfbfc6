"""The console's static files (``static/``: HTML, CSS, ES modules and the vendored uPlot), shipped as package
data and read by the gateway's ``/ui`` transport (``service.rest.console``) and by ``canaryline eval --html``: the core
holds them since both the CLI and the gateway use them, and the core never imports the gateway."""

from __future__ import annotations

__all__: list[str] = []
