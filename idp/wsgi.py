"""The WSGI entry point for production servers (``deploy/granian_serve.py``; any WSGI server).

Once the app is built, every object made so far (modules, the app, compiled templates and
statements, metadata: about 140,000) is moved out of the garbage collector's reach with
``gc.freeze()``. They live as long as the process, and a full collection that walks them took
60-85 ms here: a pause every few seconds under load, all of it in the p99 (the benchmark's
paced runs showed 30-50 ms tails where the median request takes 2 ms). Collections after it
walk only what requests made since."""

import gc

from idp.app import create_app

app = create_app()
gc.collect()
gc.freeze()
