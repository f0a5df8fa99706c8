"""The HTTP service: FastAPI on uvicorn. POST /predict takes a JSON body or a file upload;
every bad request gets a 4xx that says what was wrong, never a 500. Requests are bounded in
size and batch; the server binds to loopback unless told otherwise and runs no user code."""

import csv
import io
import logging
from typing import Any

import numpy as np

from ..core.errors import DataError
from .predictor import Predictor, per_recording

log = logging.getLogger("trainlab")

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_BATCH = 1024
UPLOAD_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy", ".csv")


class TooLarge(DataError):
    """A request body over the size limit (HTTP 413)."""


def create_app(predictor: Predictor, max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    if predictor.task.name == "segmentation":
        from ..core.errors import CheckpointError

        raise CheckpointError("trainlab serve answers classification, regression, density and autoencoder runs; "
                              "segment images with trainlab predict RUN image.tif.")
    meta = predictor.metadata()

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        inputs: list[Any] = Field(..., min_length=1, max_length=max_batch, description=(
            "A batch of inputs in the training data's units. Images: arrays of shape "
            f"{meta['input_shape']} (or [H, W] for grey). Tables: rows as objects {{column: value}} with the "
            f"columns {meta.get('columns', meta['features'])} (a category as its text), or as arrays of "
            f"{len(meta['features'])} numbers in the order {meta['features']}."))

    app = FastAPI(title=f"trainlab: {meta['recipe']}", version=meta["recipe_hash"],
                  description=f"Predictions of run {meta['run']} ({meta['model']}, {meta['task']}).")

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        declared = request.headers.get("content-length")
        try:
            too_big = declared is not None and int(declared) > max_body_bytes
        except ValueError:
            return error(400, "The Content-Length header is not a number.")
        if too_big:
            return error(413, f"The request body is {declared} bytes; the limit is {max_body_bytes}.")
        return await call_next(request)

    def invalid_fields(errors) -> JSONResponse:
        return error(422, "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)
                     or "invalid request")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc):
        return invalid_fields(exc.errors())

    async def read_body(request: Request) -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise TooLarge(f"The request body exceeds the limit of {max_body_bytes} bytes.")
        return bytes(body)

    def read_series(name: str, data: bytes) -> tuple[np.ndarray, list[str]]:
        """An uploaded .npy of recordings or CSV of series, read as trainlab predict reads the file (cut into
        windows as in training), each input named after the upload."""
        import tempfile
        from pathlib import Path

        if not name.lower().endswith((".npy", ".csv")):
            raise DataError(f"file {name!r}: this model takes series; send a .npy file or a CSV file.")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ("upload" + Path(name).suffix.lower())
            path.write_bytes(data)
            named = lambda said: said.replace(str(path), name).replace(path.name, name)  # noqa: E731
            try:
                x, names = predictor.read_files([str(path)])
            except DataError as err:
                raise DataError(named(str(err))) from None
        return x, [named(n) for n in names]

    def read_upload(name: str, data: bytes) -> np.ndarray:
        lower = name.lower()
        if not lower.endswith(UPLOAD_SUFFIXES):
            raise DataError(f"file {name!r}: unsupported type; send one of {', '.join(UPLOAD_SUFFIXES)}.")
        if lower.endswith(".csv"):
            if predictor.spec.kind == "image":
                raise DataError("This model takes images; send a PNG, JPEG, TIFF or .npy file.")
            try:
                rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
            except (UnicodeDecodeError, csv.Error) as err:
                raise DataError(f"file {name!r} is not a readable UTF-8 CSV file: {err}.") from None
            if not rows:
                raise DataError(f"file {name!r} has no data rows.")
            return predictor.rows_to_array(rows, name, first_row=2, other_columns=True)
        if predictor.spec.kind != "image":
            raise DataError("This model takes table rows; send a CSV file or a JSON body.")
        from ..data.sources import read_image

        return read_image(io.BytesIO(data), tuple(predictor.spec.input_shape), name=name)[None]

    body_schema = {"content": {
        "application/json": {"schema": PredictRequest.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
    }, "required": True}

    @app.post("/predict", openapi_extra={"requestBody": body_schema},
              responses={400: {"description": "undecodable body"}, 413: {"description": "too large"},
                         415: {"description": "unsupported media type"}, 422: {"description": "invalid inputs"}})
    async def predict(request: Request):
        """Predict a batch (JSON) or one uploaded file (multipart field `file`)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                body = await read_body(request)
                try:
                    req = PredictRequest.model_validate_json(body)
                except ValidationError as err:
                    return invalid_fields(err.errors(include_url=False))
                return predictor.predict(req.inputs, what="inputs")  # the request model caps the batch
            if ctype == "multipart/form-data":
                try:
                    form = await request.form(max_files=1, max_fields=1)
                except Exception as err:  # the multipart parser raises several types for broken bodies
                    return error(400, f"The multipart body cannot be parsed: {err}.")
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    return error(422, "multipart body: send the input as a file in the field 'file'.")
                data = await upload.read(max_body_bytes + 1)
                name = upload.filename or "upload"
                if predictor.spec.kind == "series":  # recordings: each window, and each recording by their mean
                    x, names = read_series(name, data)
                    out = {**predictor.predict(x), "inputs": names}
                    recordings = per_recording(names, out)
                    return {**out, **({"per_recording": recordings} if recordings else {})}
                return predictor.predict(read_upload(name, data))
            return error(415, f"Content-Type {ctype or '(none)'!r} is not supported; send application/json or multipart/form-data.")
        except TooLarge as err:
            return error(413, str(err))
        except DataError as err:
            return error(422, str(err))

    @app.get("/health")
    async def health():
        return {"status": "ok", "run": meta["run"]}

    @app.get("/metadata")
    async def metadata():
        return meta

    return app


def serve(run_dir, host: str = "127.0.0.1", port: int = 8000, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    try:
        import uvicorn
    except ImportError:
        raise DataError("Serving needs FastAPI and uvicorn: pip install 'trainlab[serve]'.") from None
    import torch

    torch.set_num_threads(1)  # one request at a time per process: threads only add latency
    app = create_app(Predictor(run_dir), max_body_bytes=max_body_bytes)
    log.info("serving %s on http://%s:%d (docs at /docs)", run_dir, host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
