"""``nanodet benchmark``'s library: latency and accuracy of one model on several runtimes.

It sits above export, runtime and metrics (it exports, opens and evaluates models); none of
them imports it.
"""
