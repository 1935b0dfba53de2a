"""Bad inputs and what their refusal must say: the schema's unit tests (test_schema.py) and the bad-input suite
(test_bad_inputs.py) both try every one."""

from __future__ import annotations

from typing import Any

VOLUME = "vol-0123456789abcdef0"

# (case, overrides on a valid EbsSnapshot input, property named, words the reason must contain)
BAD_EBS_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing volume", {"volume_id": None}, "volume_id", "required"),
    ("malformed volume", {"volume_id": "vol-xyz"}, "volume_id", "not a valid EBS volume id"),
    ("volume id of wrong kind", {"volume_id": "snap-0123456789abcdef0"}, "volume_id", "vol- followed by"),
    ("volume id uppercase hex", {"volume_id": "vol-0123456789ABCDEF0"}, "volume_id", "not a valid EBS volume id"),
    ("volume id not a string", {"volume_id": 12345}, "volume_id", "must be a string"),
    ("empty volume id", {"volume_id": ""}, "volume_id", "must not be empty"),
    ("missing region", {"region": None}, "region", "aws:region"),
    ("bad region", {"region": "moon-1"}, "region", "not an AWS region"),
    ("region with spaces", {"region": "us east 1"}, "region", "not an AWS region"),
    ("description too long", {"description": "x" * 256}, "description", "at most 255"),
    ("description not a string", {"description": ["a"]}, "description", "must be a string"),
    ("tags not a map", {"tags": ["a", "b"]}, "tags", "map of strings"),
    ("too many tags", {"tags": {f"k{i}": "v" for i in range(49)}}, "tags", "at most 48"),
    ("aws: tag prefix", {"tags": {"aws:cloudformation:stack": "x"}}, "tags", "reserved for AWS"),
    ("AWS: tag prefix any case", {"tags": {"AWS:Owner": "x"}}, "tags", "reserved for AWS"),
    ("provider tag prefix", {"tags": {"pulumi-snapshot:creation-token": "x"}}, "tags", "this provider manages"),
    ("tag key too long", {"tags": {"k" * 129: "v"}}, "tags", "at most 128"),
    ("tag value too long", {"tags": {"k": "v" * 257}}, "tags", "at most 256"),
    ("tag value not a string", {"tags": {"k": 3}}, "tags", "string value"),
    ("empty tag key", {"tags": {"": "v"}}, "tags", "non-empty"),
    ("unknown tier", {"storage_tier": "glacier"}, "storage_tier", "standard, archive"),
    ("tier wrong case", {"storage_tier": "Archive"}, "storage_tier", "not a storage tier"),
    ("negative timeout", {"timeout": -5}, "timeout", "out of range"),
    ("zero timeout", {"timeout": 0}, "timeout", "out of range"),
    ("absurd timeout", {"timeout": 10**9}, "timeout", "up to 7 days"),
    ("timeout as string", {"timeout": "3600"}, "timeout", "number of seconds"),
    ("timeout as bool", {"timeout": True}, "timeout", "number of seconds"),
    ("copy tags not bool", {"copy_volume_tags": "yes"}, "copy_volume_tags", "true or false"),
    (
        "malformed outpost",
        {"outpost_arn": "arn:aws:outposts:us-east-1:123:outpost/x"},
        "outpost_arn",
        "not an Outpost ARN",
    ),
    ("malformed role arn", {"role_arn": "arn:aws:iam::12345:role/x"}, "role_arn", "not an IAM role ARN"),
    ("user arn instead of role", {"role_arn": "arn:aws:iam::123456789012:user/bob"}, "role_arn", "not an IAM role ARN"),
    ("external id without role", {"external_id": "abc123"}, "external_id", "set role_arn too"),
    (
        "external id too short",
        {"role_arn": "arn:aws:iam::123456789012:role/r", "external_id": "a"},
        "external_id",
        "2-1224",
    ),
    (
        "session name with spaces",
        {"role_arn": "arn:aws:iam::123456789012:role/r", "role_session_name": "my run"},
        "role_session_name",
        "2-64",
    ),
    ("session name without role", {"role_session_name": "ci-run"}, "role_session_name", "set role_arn too"),
    ("triggers not a map", {"triggers": ["v1"]}, "triggers", "map of names to values"),
    ("trigger value a list", {"triggers": {"release": ["a"]}}, "triggers", "string, number or boolean"),
    (
        "allowed account ids not a list",
        {"allowed_account_ids": "123456789012"},
        "allowed_account_ids",
        "list of 12-digit",
    ),
    ("allowed account id short", {"allowed_account_ids": ["12345"]}, "allowed_account_ids", "12 digits"),
    ("allowed account id as number", {"allowed_account_ids": [123456789012]}, "allowed_account_ids", "as a string"),
    ("allowed account ids empty", {"allowed_account_ids": []}, "allowed_account_ids", "must not be empty"),
    ("endpoint not a url", {"endpoint_url": "localhost:5000"}, "endpoint_url", "not an http(s) URL"),
    ("endpoint wrong scheme", {"endpoint_url": "ftp://example.com"}, "endpoint_url", "not an http(s) URL"),
    ("empty profile", {"profile": " "}, "profile", "not a profile name"),
    ("access key as input", {"aws_access_key_id": "AKIA..."}, "aws_access_key_id", "never resource inputs"),
    ("secret key as input", {"aws_secret_access_key": "x"}, "aws_secret_access_key", "never resource inputs"),
]

BAD_INSTANCE_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing instance", {"instance_id": None}, "instance_id", "required"),
    ("malformed instance", {"instance_id": "i-123"}, "instance_id", "not a valid EC2 instance id"),
    ("volume id as instance", {"instance_id": VOLUME}, "instance_id", "i- followed by"),
    ("exclusions not a list", {"exclude_data_volume_ids": VOLUME}, "exclude_data_volume_ids", "list of volume"),
    (
        "malformed exclusion",
        {"exclude_data_volume_ids": ["vol-1"]},
        "exclude_data_volume_ids",
        "not a valid EBS volume id",
    ),
    ("exclude boot not bool", {"exclude_boot_volume": "true"}, "exclude_boot_volume", "true or false"),
    ("copy tags from unknown source", {"copy_tags_from_source": "instance"}, "copy_tags_from_source", "'volume'"),
    ("aws: tag", {"tags": {"aws:x": "y"}}, "tags", "reserved for AWS"),
    ("bad timeout", {"timeout": -1}, "timeout", "out of range"),
]
