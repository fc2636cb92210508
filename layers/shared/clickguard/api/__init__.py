"""The synchronous scoring API (seed 002's ``POST /predict_behavior``, clickguard's ``POST /score``).

A caller names a user and optionally sends that user's latest events; the answer is the user's score, signals,
flag decision and explanation, computed from the session table and the current model with the consumer's own
code, the request's events applied on top of the stored state and never written. Pure logic: ``request`` (parse
and validate the body), ``scoring`` (the consumer's steps on one user), ``response`` (the JSON answer),
``service`` (routing and the two reads, over ``ports``), ``function_url`` (Lambda's payload format 2.0).
"""
