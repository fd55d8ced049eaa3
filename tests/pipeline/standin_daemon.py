"""Stand-in for ``kkt-adapter run --config PATH`` until the daemon's wiring mounts the pipeline.

Same parts as the daemon (buffer, pipeline with the real driver, intake API, device routes) in one
uvicorn process; the chaos test uses the real ``kkt-adapter run`` as soon as the wiring has the pipeline.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

from pipeline_app import build

from kkt_adapter.config import load_settings
from kkt_adapter.daemon.devices import shtrih_driver

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(Path(sys.argv[sys.argv.index("--config") + 1]))
    app = build(settings, shtrih_driver)
    uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_level="warning", lifespan="on")
