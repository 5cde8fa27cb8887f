"""The bundled sandbox partner: a small HTTP server that plays a marketplace, an
e-commerce site, a WMS and an ERP, for the demo (`make run`) and the tests.

Run it alone with `python -m connectors.sandbox --port 8765`. It imports nothing from
Django, so it starts in a blink and can run anywhere.
"""

from connectors.sandbox.server import SandboxServer, start_in_thread

__all__ = ["SandboxServer", "start_in_thread"]
