"""``--tenant`` at the CLI: another tenant only for a person with the admin role."""

from __future__ import annotations

import pytest

from auraison.cli.act import tenant_for
from auraison.errors import Forbidden
from auraison.identity import Identity, PrincipalKind, Role

AGENT = Identity(tenant="acme", role=Role.admin, kind=PrincipalKind.agent)
ADMIN = Identity(tenant="acme", role=Role.admin, kind=PrincipalKind.human)
OPERATOR = Identity(tenant="acme", role=Role.operator, kind=PrincipalKind.human)


@pytest.mark.parametrize("who", [AGENT, ADMIN, OPERATOR])
def test_everyone_acts_in_their_own_tenant(who: Identity) -> None:
    assert tenant_for(who, None) == tenant_for(who, "acme") == "acme"


def test_only_a_human_admin_names_another_tenant() -> None:
    assert tenant_for(ADMIN, "globex") == "globex"
    for who in (AGENT, OPERATOR):  # an agent, even with the admin role; a person without it
        with pytest.raises(Forbidden, match="may not act in tenant 'globex'"):
            tenant_for(who, "globex")
