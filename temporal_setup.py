"""`aftersales temporal setup`: register the search attributes on a real Temporal cluster.

`aftersales dev` passes them to the dev server on its command line; a real
cluster gets them once, through the operator service. Running it again does
nothing; a name already registered with another type is an error to resolve by
hand (Temporal cannot change a search attribute's type in place).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from domain.search_attributes import ALL


class SearchAttributeConflict(RuntimeError):
    """A search attribute of ours is registered with another type."""


def _type_name(value: int) -> str:
    return IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_").title().replace("_", "")  # KeywordList


@dataclass
class SetupResult:
    namespace: str
    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


async def register_search_attributes(
    client: Client, namespace: str | None = None, keys: tuple[SearchAttributeKey, ...] = ALL
) -> SetupResult:
    """Add the missing search attributes to `namespace` (the client's by default).

    Raises SearchAttributeConflict, adding nothing, when one of them exists with another type.
    """
    namespace = namespace or client.namespace
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    registered = {**dict(listed.system_attributes), **dict(listed.custom_attributes)}
    result = SetupResult(namespace=namespace)
    missing: dict[str, int] = {}
    conflicts = []
    for key in keys:
        wanted = int(key.indexed_value_type)
        found = registered.get(key.name)
        if found is None:
            missing[key.name] = wanted
        elif found != wanted:
            conflicts.append(f"{key.name} is {_type_name(found)}, expected {_type_name(wanted)}")
        else:
            result.existing.append(key.name)
    if conflicts:
        raise SearchAttributeConflict(
            f"namespace {namespace}: " + "; ".join(conflicts)
            + ". Remove or rename them (temporal operator search-attribute remove) and run setup again."
        )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        result.added = list(missing)
    return result
