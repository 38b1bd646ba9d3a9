"""Douyin Shop (抖店): the after-sales message push and the merchant's decision call."""
