from decimal import Decimal

import factory

from inventory.models import Channel, Location, Sku


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.LazyAttribute(lambda sku: f"Item {sku.code}")
    unit_cost = Decimal("10.00")
    price = Decimal("25.00")
    active = True

    class Params:
        inactive = factory.Trait(active=False)


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.LazyAttribute(lambda location: f"Store {location.code}")
    kind = Location.Kind.STORE
    region = "north"
    ship_from_store = True
    pickup = True

    class Params:
        dc = factory.Trait(kind=Location.Kind.DC, pickup=False)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.LazyAttribute(lambda channel: channel.code.title())
    kind = Channel.Kind.WEB
    priority = 0
    safety_buffer = 0
