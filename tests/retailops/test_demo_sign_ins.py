"""What `make run` prints once the app answers: the demo users a newcomer can sign in as."""

import pytest

from backoffice.demo import DEMO_USERS, demo_sign_ins, seed_demo_users
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db


def test_only_demo_users_that_still_have_their_published_password_are_offered(django_user_model):
    assert demo_sign_ins() == []

    for code in ("S001", "S002"):  # the store user's stores
        LocationFactory(code=code)
    seed_demo_users()
    assert demo_sign_ins() == DEMO_USERS

    changed = django_user_model.objects.get(username="finance")
    changed.set_password("a-password-of-their-own-42")
    changed.save()
    django_user_model.objects.filter(username="store").update(is_active=False)
    assert [user.username for user in demo_sign_ins()] == ["control", "integration", "admin"]
