"""The HTTP API (Starlette): routes, one-line JSON errors, the token, the request guards.

Starlette is imported inside the functions that need it, so that ``icarl --help`` and the
base package never load it (it comes with the ``serve`` extra).

=======  ==================  ===========================================================
method   path                what
=======  ==================  ===========================================================
GET      ``/``               the web page
GET      ``/health``         status, version, uptime, the learn job under way
GET      ``/info``           classes, method, memory, versions, unknown rule, limits
POST     ``/predict``        images -> labels, top-k scores, the version that answered
POST     ``/learn``          new classes (name + images) -> a learn job (202), 409 if busy
GET      ``/jobs``           recent learn jobs
GET      ``/jobs/{id}``      one job's state (``queued`` ... ``done`` / ``failed``)
POST     ``/jobs/{id}/cancel``  stop a job before it is published
=======  ==================  ===========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import IcarlError
from .guard import Guard, host_of
from .jobs import Busy
from .parse import learn_classes, learn_overrides, predict_images, query_int
from .payload import RequestError
from .service import Service

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger("icarl.serve")
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def one_line(message: str) -> str:
    return " ".join(str(message).split())


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(doc, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": one_line(message)}, status, headers)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


# ------------------------------------------------------------------ checks
def check_mutation(request: Request) -> None:
    """A request that changes the server: same origin as the page (a browser's cross-site form
    is refused), and the token when one is configured."""
    origin = request.headers.get("origin")
    if origin is not None and host_of(urlsplit(origin).netloc) != host_of(request.headers.get("host", "")):
        raise RequestError(
            403, f"a request from the page of {origin} is refused; send it from this server's page"
        )
    token = service_of(request).options.token
    if token is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        what = "a wrong token" if given else "no token"
        raise RequestError(
            401,
            f"this request needs the server's token and came with {what}; send Authorization: Bearer TOKEN",
        )


# ------------------------------------------------------------------ handlers
async def page(request: Request) -> Response:
    from starlette.responses import HTMLResponse

    html = resources.files("icarl.serve").joinpath("page.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=PAGE_HEADERS)


async def health(request: Request) -> Response:
    return json_response(service_of(request).health())


async def info(request: Request) -> Response:
    return json_response(service_of(request).info())


async def predict(request: Request) -> Response:
    service = service_of(request)
    served = service.host.current
    k = query_int(request, "top_k", service.options.default_top_k, 1, 1000)
    classifier = request.query_params.get("classifier")
    if classifier not in (None, "nme", "cnn"):
        raise RequestError(400, f"classifier {classifier!r} is not one of nme, cnn")
    if classifier == "nme" and served.learner.means_ is None:
        raise RequestError(400, "this model keeps no exemplars, so it has no NME; ask for classifier=cnn")
    x = await predict_images(request, served.learner.image_shape_ or (1, 1, 1), service.options.limits)
    doc = await asyncio.wrap_future(service.host.submit(x, k, classifier))
    return json_response(doc)


async def learn(request: Request) -> Response:
    service = service_of(request)
    check_mutation(request)
    learner = service.host.current.learner
    if not service.options.allow_learn:
        raise RequestError(403, "this server was started with --no-learn; it predicts only")
    if learner.inference_only_:
        raise RequestError(409, "the served model was saved without exemplars; it can predict but not learn")
    if service.jobs.active is not None:  # before reading the images (start() checks again)
        raise Busy(service.jobs.active)
    overrides = learn_overrides(request, service.options.limits)
    classes = await learn_classes(request, learner, service.options.limits)
    job = service.jobs.start(classes, overrides)
    return json_response({"job": job.to_dict()}, 202, {"Location": f"/jobs/{job.id}"})


async def jobs(request: Request) -> Response:
    return json_response({"jobs": [j.to_dict() for j in service_of(request).jobs.all()]})


async def job(request: Request) -> Response:
    found = service_of(request).jobs.get(request.path_params["job_id"])
    if found is None:
        raise RequestError(404, f"no learn job {request.path_params['job_id']!r}; GET /jobs lists them")
    return json_response(found.to_dict())


async def cancel(request: Request) -> Response:
    check_mutation(request)
    found = service_of(request).jobs.cancel(request.path_params["job_id"])
    if found is None:
        raise RequestError(404, f"no learn job {request.path_params['job_id']!r}; GET /jobs lists them")
    return json_response(found.to_dict())


# ------------------------------------------------------------------ errors
async def on_request_error(request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, RequestError) else 409 if isinstance(exc, Busy) else 400
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error(status, str(exc), headers)


async def on_http_error(request: Request, exc: Exception) -> Response:
    status = int(getattr(exc, "status_code", 500))
    detail = str(getattr(exc, "detail", "") or "")
    if status == 404:
        detail = f"no such path {request.url.path}; GET /info describes the API"
    elif status == 405:
        detail = f"{request.method} is not accepted on {request.url.path}"
    return error(status, detail or "bad request", dict(getattr(exc, "headers", None) or {}))


async def on_bug(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error(500, f"internal error ({type(exc).__name__}); the server's log has the details")


def build_app(service: Service) -> Starlette:
    """The ASGI application of ``service``."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.routing import Route

    routes = [
        Route("/", page),
        Route("/health", health),
        Route("/info", info),
        Route("/predict", predict, methods=["POST"]),
        Route("/learn", learn, methods=["POST"]),
        Route("/jobs", jobs),
        Route("/jobs/{job_id}", job),
        Route("/jobs/{job_id}/cancel", cancel, methods=["POST"]),
    ]
    handlers: dict[Any, Any] = {
        IcarlError: on_request_error,
        HTTPException: on_http_error,
        Exception: on_bug,
    }
    guard = Middleware(Guard, max_bytes=service.options.limits.max_body_bytes, hosts=service.options.hosts)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()  # before uvicorn re-raises a SIGTERM it caught: the job ends, the lock goes

    app = Starlette(routes=routes, middleware=[guard], exception_handlers=handlers, lifespan=lifespan)
    app.state.service = service
    return app
