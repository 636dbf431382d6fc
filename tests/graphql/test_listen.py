"""The contract ``graphql_api.listen`` relies on in the pinned strawberry-graphql: the Channels
consumer's ``listen_queues`` (filled by its ``dispatch``) and ``listen_to_channel``'s group
bookkeeping. An upgrade that changes either fails here."""

from channels.layers import get_channel_layer

from graphql_api.consumers import GraphQLConsumer
from graphql_api.listen import listen
from graphql_api.schema import schema


async def test_listen_keeps_arrival_order_across_types_and_leaves_its_groups():
    layer = get_channel_layer()
    consumer = GraphQLConsumer(schema=schema)
    consumer.channel_layer = layer
    consumer.channel_name = await layer.new_channel()

    async with listen(consumer, types=("count.one", "count.two"), groups=["g.1"]) as messages:
        await layer.group_send("g.1", {"type": "count.one", "n": 0})
        assert (await layer.receive(consumer.channel_name))["n"] == 0  # joined the group
        for n, type_ in enumerate(("count.two", "count.one", "count.two", "other.type"), 1):
            await consumer.dispatch({"type": type_, "n": n})
        received = [(await anext(messages))["n"] for _ in range(3)]
        assert received == [1, 2, 3]

    await layer.group_send("g.1", {"type": "count.one", "n": 9})
    await layer.send(consumer.channel_name, {"type": "marker"})
    assert (await layer.receive(consumer.channel_name))["type"] == "marker"  # left the group
    assert not consumer.listen_queues["count.one"] and not consumer.listen_queues["count.two"]
