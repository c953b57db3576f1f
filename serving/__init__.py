"""The model service: the seam between the bot and the engine (personalization/).

`protocol.py` is what the assistant calls (`ModelService`); `client.py` serves it from a
worker process on this machine (`worker.py`), `cluster/` from Ray actors on other machines;
`remote.py` is what both share, `availability.py` says whether a model can load here.
Plain data crosses it, so it knows no chat and no storage.
"""
