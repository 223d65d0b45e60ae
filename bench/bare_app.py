"""The least work a Python REST endpoint can do: a pydantic body of features -> XGBoost -> score.

The baseline of the REST benchmark: FastAPI on uvicorn (one worker, loopback), the same
model.ubj as the service, predicting one row single-threaded (as the service does), with no
validation beyond pydantic, no preprocessing, no policy, no reason codes and no logging.

    python -m bench.bare_app --port 8001 [--model models/loans/model.ubj]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np
import xgboost as xgb
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "loans" / "model.ubj"


class Row(BaseModel):
    """One model input row: the features in the model's order (null = missing)."""

    features: list[Optional[float]]


def create_app(model_path: Path = DEFAULT_MODEL) -> FastAPI:
    """Return the bare scoring app around one booster (nthread=1)."""
    booster = xgb.Booster(model_file=str(model_path))
    booster.set_param({"nthread": 1})
    width = booster.num_features()
    app = FastAPI(title="bare xgboost endpoint")

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/predict")
    async def predict(row: Row) -> Any:
        if len(row.features) != width:
            return JSONResponse({"detail": f"expected {width} features"}, status_code=422)
        values = [math.nan if v is None else v for v in row.features]
        score = float(booster.inplace_predict(np.array([values], dtype="float64"))[0])
        return {"score": score}

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the bare app on 127.0.0.1 with uvicorn, one worker."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    app = create_app(args.model)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
