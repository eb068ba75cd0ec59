"""What a person sees on the console of a job: user errors in one line, known third-party noise filtered.

Every entry point (jobs/*.py, ``python -m phi3ray.serve.ask``) calls ``quiet_third_party()`` before
its imports (some libraries warn as they are imported) and runs its body inside ``job_console(name)``;
the processes Ray starts for us (training workers, evaluation actors, Serve replicas) call
``quiet_third_party()`` first thing too.
An error the user can fix (``Phi3RayError``: bad config, bad data row, missing file, Weaviate
unreachable) prints ``<name>: <message>`` and exits 1, without a Python traceback;
anything else is our bug and keeps its traceback. Warnings known to be noise for our users are
ignored by module here, at the entry point, not globally: warnings that matter (a skipped row, a
failed object) are our own log lines and stay visible.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

from phi3ray.errors import Phi3RayError

# (category, module regex): deprecation chatter of the libraries we call, which a phi3ray user cannot act on.
NOISE: tuple[tuple[type[Warning], str], ...] = (
    (DeprecationWarning, r"(torch|ray|transformers|peft|deepspeed|accelerate|weaviate|pydantic|hydra|omegaconf|google|grpc|pyarrow)(\.|$)"),
    (FutureWarning, r"(torch|ray|transformers|peft|deepspeed|accelerate)(\.|$)"),
    (UserWarning, r"torch\.distributed(\.|$)"),  # "barrier(): using the device under current context" on CPU gloo
)


# weaviate-client's __init__ calls warnings.simplefilter("default") when Python was started without -W: every
# DeprecationWarning and ResourceWarning of every library in the process is shown from then on.
WEAVIATE_CATCH_ALL = ("default", None, Warning, None, 0)


def quiet_third_party() -> None:
    """Filter the known noise of third-party libraries in this process; call it before importing them.

    Also undoes weaviate-client's process-wide simplefilter("default"), and gives the processes started
    from here (a local Ray's workers) a -W option equal to Python's own default, so that importing
    weaviate there leaves Python's defaults in place.
    """
    while WEAVIATE_CATCH_ALL in warnings.filters:
        warnings.filters.remove(WEAVIATE_CATCH_ALL)
    if not sys.warnoptions:  # as if started with -W (Python's own default): weaviate, imported later, then keeps out
        sys.warnoptions.append("ignore::DeprecationWarning")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")  # = Python's default outside __main__
    for category, module in NOISE:
        warnings.filterwarnings("ignore", category=category, module=module)
    for name in ("httpx", "filelock", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # bitsandbytes warns on import, on CPUs with AVX512-BF16, that an optional 4-bit CPU kernel is not installed
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # one "Loading weights" bar per model load otherwise


def quiet_ray_data() -> None:
    """Our own lines say what a job does; Ray Data's would add its plan and, in a log (no terminal), a 7-line
    progress block every 10 s per dataset (ingestion's, and the split that feeds the training workers). In a
    terminal one bar per dataset stays. Call it once Ray is up, before the datasets are made: each carries
    the driver's DataContext to the processes that run it."""
    import ray

    context = ray.data.DataContext.get_current()
    context.print_on_execution_start = False
    context.enable_operator_progress_bars = False
    if not sys.stdout.isatty():
        context.enable_progress_bars = False
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "Progress bars disabled"


@contextlib.contextmanager
def job_console(name: str) -> Iterator[None]:
    """Run an entry point's body: third-party noise filtered, a user-fixable error as one line and exit status 1."""
    quiet_third_party()  # again: the libraries imported since the entry point's first call
    try:
        yield
    except Phi3RayError as err:
        raise SystemExit(f"{name}: {err}") from None
