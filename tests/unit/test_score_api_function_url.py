"""Function URL events (payload format 2.0) in, Function URL responses out, and the event the local server builds."""

from __future__ import annotations

import base64
import json

from clickguard.api.function_url import (
    HttpRequest,
    HttpResponse,
    decode_event,
    encode_response,
    function_url_event,
)
from clickguard.api.request import body_bytes, parse_request

# An IAM-authenticated request as Lambda delivers it (the documented 2.0 shape, values shortened).
SIGNED = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/score",
    "rawQueryString": "",
    "headers": {"content-type": "application/json", "host": "abc123.lambda-url.eu-west-1.on.aws"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "abc123",
        "authorizer": {
            "iam": {
                "accessKey": "AKIAEXAMPLE",
                "accountId": "123456789012",
                "callerId": "AROAEXAMPLE:fraud-service",
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": "arn:aws:sts::123456789012:assumed-role/fraud-service/session",
                "userId": "AROAEXAMPLE:fraud-service",
            }
        },
        "domainName": "abc123.lambda-url.eu-west-1.on.aws",
        "domainPrefix": "abc123",
        "http": {
            "method": "POST",
            "path": "/score",
            "protocol": "HTTP/1.1",
            "sourceIp": "10.0.0.1",
            "userAgent": "python-urllib",
        },
        "requestId": "id",
        "routeKey": "$default",
        "stage": "$default",
        "time": "20/Nov/2026:10:00:00 +0000",
        "timeEpoch": 1795173600000,
    },
    "body": '{"user_key": "u1"}',
    "isBase64Encoded": False,
}


def test_a_signed_request_decodes_to_method_path_body_and_caller():
    assert decode_event(SIGNED) == HttpRequest(
        "POST", "/score", '{"user_key": "u1"}', False, "arn:aws:sts::123456789012:assumed-role/fraud-service/session"
    )


def test_a_request_without_body_or_authorizer_decodes():
    event = {**SIGNED, "requestContext": {"http": {"method": "get", "path": "/"}}, "rawPath": "/"}
    del event["body"]
    assert decode_event(event) == HttpRequest("GET", "/", None, False, None)


def test_the_response_is_json_that_caches_nowhere():
    wire = encode_response(HttpResponse(405, {"reason": "method_not_allowed", "message": "m"}, {"allow": "POST"}))
    assert wire["statusCode"] == 405 and wire["isBase64Encoded"] is False
    assert wire["headers"] == {"content-type": "application/json", "cache-control": "no-store", "allow": "POST"}
    assert json.loads(wire["body"]) == {"reason": "method_not_allowed", "message": "m"}


def test_the_built_event_is_the_documented_shape_and_decodes_back():
    raw = b'{"user_key": "u1"}'
    event = function_url_event("post", "/score", raw, {"Content-Type": "application/json", "User-Agent": "curl/8"})
    assert set(event) == {"version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext", "body",
                          "isBase64Encoded"}  # fmt: skip
    assert set(event["requestContext"]) == set(SIGNED["requestContext"]) - {"authorizer"}
    assert event["headers"]["content-type"] == "application/json"  # Lambda lower-cases header names
    assert event["requestContext"]["http"]["userAgent"] == "curl/8"
    request = decode_event(event)
    assert (request.method, request.path, request.is_base64) == ("POST", "/score", False)
    assert body_bytes(request.body, request.is_base64) == raw


def test_a_binary_body_travels_base64_encoded_and_still_parses():
    raw = b'{"user_key": "u1"}'
    for headers, body in (({"content-type": "application/octet-stream"}, raw), ({}, b'{"user_key": "\xff"}')):
        event = function_url_event("POST", "/score", body, headers)
        assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == body
    event = function_url_event("POST", "/score", raw, {"content-type": "application/octet-stream"})
    request = decode_event(event)
    assert parse_request(body_bytes(request.body, request.is_base64)).user_key == "u1"


def test_an_empty_body_is_absent_from_the_event():
    event = function_url_event("GET", "/score", b"", {})
    assert "body" not in event and event["isBase64Encoded"] is False
