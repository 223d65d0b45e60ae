"""The bundle as an MLflow pyfunc model, logged as code (models-from-code: nothing pickled).

`mlflow models serve` and `mlflow.pyfunc.load_model` run this file; the bundle folder is the
model's artifact `bundle`, and scoring goes through the same `Bundle.score_record` as the
REST service.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class LooplineModel(PythonModel):
    """Score raw application records with the bundle; invalid records get reasons, not errors."""

    def load_context(self, context: Any) -> None:
        from loopline.bundle import Bundle

        self.bundle = Bundle.load(context.artifacts["bundle"], online=True)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        from loopline.bundle import InvalidRecordError

        rows = []
        for record in model_input.to_dict(orient="records"):
            record = {k: (None if v is None or v != v else v) for k, v in record.items()}
            try:
                out = self.bundle.score_record(record, remember=False)
                rows.append(
                    {
                        "score": out["score"],
                        "decision": out["decision"],
                        "reasons": "; ".join(out["reasons"]),
                    }
                )
            except InvalidRecordError as exc:
                rows.append(
                    {"score": None, "decision": "invalid", "reasons": "; ".join(exc.reasons)}
                )
        return pd.DataFrame(rows, columns=["score", "decision", "reasons"])


mlflow.models.set_model(LooplineModel())
