"""EnergyToken (only settlement mints and burns) and the local TestEuro."""

import ape


def test_energy_token_units(token):
    assert token.decimals() == 3  # 1 unit = 1 Wh
    assert token.symbol() == "kWh"
    assert token.totalSupply() == 0


def test_only_the_settlement_role_mints_and_burns(token, market, admin, households, outsider):
    role = token.SETTLEMENT_ROLE()
    assert token.hasRole(role, market)
    for caller in (admin, outsider, households[0]):
        with ape.reverts(token.AccessControlUnauthorizedAccount, account=caller, neededRole=role):
            token.mint(caller, 1, sender=caller)
        with ape.reverts(token.AccessControlUnauthorizedAccount, account=caller, neededRole=role):
            token.burn(households[0], 1, sender=caller)
    with ape.reverts(token.AccessControlUnauthorizedAccount):
        token.grantRole(role, outsider, sender=outsider)


def test_settlement_role_mints_and_burns_without_allowance(token, admin, households):
    token.grantRole(token.SETTLEMENT_ROLE(), admin, sender=admin)
    token.mint(households[0], 1_500, sender=admin)
    token.burn(households[0], 400, sender=admin)
    assert token.balanceOf(households[0]) == 1_100 and token.totalSupply() == 1_100
    with ape.reverts(token.ERC20InsufficientBalance):
        token.burn(households[0], 1_101, sender=admin)


def test_tokens_transfer_like_any_erc20(token, admin, households):
    token.grantRole(token.SETTLEMENT_ROLE(), admin, sender=admin)
    token.mint(households[0], 1_000, sender=admin)
    token.transfer(households[1], 250, sender=households[0])
    assert token.balanceOf(households[1]) == 250


def test_test_euro_faucet(euro, outsider):
    assert euro.decimals() == 6
    before = euro.balanceOf(outsider)
    euro.faucet(outsider, sender=outsider)
    assert euro.balanceOf(outsider) == before + 1_000 * 10**6
