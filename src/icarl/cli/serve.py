"""``icarl serve MODEL``: predict over HTTP, and learn new classes while predicting.

Needs the ``serve`` extra (``pip install 'icarl[serve]'``: Starlette, uvicorn,
python-multipart). MODEL is a model file (its versions go to ``--store``, by default
``<stem>.served`` beside it) or a serving folder made before; a restart serves the
latest version published there. docs/serve.md has the API.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path

import torch

from .. import threads
from ..errors import IcarlError
from ..serve import Limits, Options, UnknownRule, open_service
from ..serve import server as http
from .args.serve import TOKEN_ENV

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def thread_shares(predict: int | None, learn: int | None) -> tuple[int, int]:
    """Fixed torch thread counts for predictions and for a learn job: by default half the
    CPUs each (one each on 2 CPUs), so a learn job cannot starve predictions."""
    cpus = threads.cpus_available()
    learn = learn or max(1, cpus // 2)
    predict = predict or max(1, cpus - learn)
    if predict < 1 or learn < 1:
        raise IcarlError("--predict-threads and --learn-threads must be 1 or more")
    return predict, learn


def options(args: argparse.Namespace) -> Options:
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if args.min_score is not None:
        rule = UnknownRule("min-score", min_score=args.min_score)
    else:
        rule = UnknownRule("off" if args.no_unknown else "calibrated", k=args.unknown_sd)
    for name in ("max_images", "max_learn_images", "max_pixels"):
        if getattr(args, name) < 1:
            raise IcarlError(f"--{name.replace('_', '-')} is {getattr(args, name)}; use 1 or more")
    if not args.max_body_mb > 0:
        raise IcarlError(f"--max-body-mb is {args.max_body_mb}; use a positive size")
    limits = Limits(
        max_body_bytes=int(args.max_body_mb * (1 << 20)),
        max_images=args.max_images,
        max_learn_images=args.max_learn_images,
        max_pixels=args.max_pixels,
    )
    loopback = _is_loopback(args.host)
    if not loopback and token is None and not args.no_learn:
        raise IcarlError(
            f"--host {args.host} lets other machines reach the server, and anyone could teach the model; "
            f"set a token ({TOKEN_ENV}=...) or pass --no-learn"
        )
    predict, learn = thread_shares(args.predict_threads, args.learn_threads)
    hosts = (*LOOPBACK, *args.allow_host) if loopback else None
    return Options(
        token=token,
        limits=limits,
        rule=rule,
        allow_learn=not args.no_learn,
        hosts=hosts,
        predict_threads=predict,
        learn_threads=learn,
        device=args.device,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(args: argparse.Namespace) -> int:
    absent = http.missing()
    if absent:
        raise IcarlError(f"icarl serve needs {', '.join(absent)}; pip install 'icarl[serve]'")
    opts = options(args)
    torch.set_num_threads(opts.predict_threads)  # the predictions' fixed share, for the server's life
    sock = http.bind(args.host, args.port)
    try:
        service = open_service(Path(args.model), Path(args.store) if args.store else None, opts)
    except BaseException:
        sock.close()
        raise
    served = service.host.current
    names = ", ".join(served.learner.named_classes().values())
    print(
        f"serving {service.store.root} version {served.version}: {served.summary['method']}, "
        f"{len(served.learner.classes_)} classes ({names})"
    )
    for note in service.notes:
        print(f"note: {note}")
    rule = opts.rule.describe(served.calibration)["rule"]
    print(
        f"threads: {opts.predict_threads} for predictions, {opts.learn_threads} for a learn job; "
        f"unknown rule: {rule}; learning {'on' if opts.allow_learn else 'off'}"
        f"{', token required' if opts.token else ''}"
    )
    print(f"listening on {http.url(sock)}", flush=True)
    http.run(service, sock, access_log=not args.no_access_log)
    return 0
