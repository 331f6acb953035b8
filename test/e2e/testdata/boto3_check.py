"""Drives godwit with boto3 exactly as an application would.

Usage: python3 boto3_check.py ENDPOINT
Prints one line "OK <n checks>" on success; any failed check raises.
"""
import sys
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
session = boto3.session.Session(
    aws_access_key_id="boto", aws_secret_access_key="boto", region_name="us-east-1")
client = session.client("dynamodb", endpoint_url=endpoint)
ddb = session.resource("dynamodb", endpoint_url=endpoint)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


table = ddb.create_table(
    TableName="Boto",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
               {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                          {"AttributeName": "sk", "AttributeType": "N"}],
    BillingMode="PAY_PER_REQUEST",
)
table.wait_until_exists()
table.reload()
check(table.table_status == "ACTIVE", "table ACTIVE after waiter")

big = Decimal("12345678901234567890123456789012345678")
table.put_item(Item={"pk": "a", "sk": 1, "n": big, "s": "x", "l": [1, "two", {"m": True}],
                     "ss": {"p", "q"}, "b": b"\x00\x01"})
got = table.get_item(Key={"pk": "a", "sk": 1}, ConsistentRead=True)["Item"]
check(got["n"] == big, "38-digit number round trip: %r" % got["n"])
check(got["l"][2]["m"] is True and got["ss"] == {"p", "q"}, "nested and set types")
check(bytes(got["b"].value) == b"\x00\x01", "binary round trip")

with table.batch_writer() as bw:
    for i in range(2, 60):
        bw.put_item(Item={"pk": "a", "sk": i, "v": i})
items = []
for page in client.get_paginator("query").paginate(
        TableName="Boto", KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "a"}}, Limit=7):
    items.extend(page["Items"])
check(len(items) == 59, "paginated query saw %d items" % len(items))
check([int(i["sk"]["N"]) for i in items] == list(range(1, 60)), "query order")

resp = table.query(KeyConditionExpression=Key("pk").eq("a") & Key("sk").between(10, 12),
                   FilterExpression=Attr("v").gt(10))
check([int(i["sk"]) for i in resp["Items"]] == [11, 12], "conditions DSL: %r" % resp["Items"])

try:
    table.put_item(Item={"pk": "a", "sk": 1}, ConditionExpression=Attr("pk").not_exists())
    check(False, "conditional put should fail")
except ClientError as e:
    check(e.response["Error"]["Code"] == "ConditionalCheckFailedException", e.response["Error"])

r = table.update_item(Key={"pk": "a", "sk": 2}, UpdateExpression="ADD v :one",
                      ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")
check(r["Attributes"]["v"] == 3, "update returns %r" % r["Attributes"])

client.transact_write_items(TransactItems=[
    {"Put": {"TableName": "Boto", "Item": {"pk": {"S": "t"}, "sk": {"N": "1"}}}},
    {"Update": {"TableName": "Boto", "Key": {"pk": {"S": "a"}, "sk": {"N": "2"}},
                "UpdateExpression": "SET w = :w", "ExpressionAttributeValues": {":w": {"S": "y"}}}},
])
try:
    client.transact_write_items(TransactItems=[
        {"ConditionCheck": {"TableName": "Boto", "Key": {"pk": {"S": "t"}, "sk": {"N": "1"}},
                            "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Delete": {"TableName": "Boto", "Key": {"pk": {"S": "a"}, "sk": {"N": "2"}}}},
    ])
    check(False, "transaction should be cancelled")
except ClientError as e:
    reasons = [r["Code"] for r in e.response.get("CancellationReasons", [])]
    check(e.response["Error"]["Code"] == "TransactionCanceledException", e.response["Error"])
    check(reasons == ["ConditionalCheckFailed", "None"], "reasons %r" % reasons)

try:
    client.get_item(TableName="Missing", Key={"pk": {"S": "a"}})
    check(False, "missing table")
except ClientError as e:
    check(e.response["Error"]["Code"] == "ResourceNotFoundException", e.response["Error"])

table.delete()
table.wait_until_not_exists()
print("OK %d" % checks)
