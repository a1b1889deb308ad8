"""CommunityRegistry: households, meters, roles, tariffs, mechanism, EIP-712."""

import ape
import pytest
from conftest import FEED_IN_PRICE, INTERVAL_SECONDS, RETAIL_PRICE
from eth_account import Account
from eth_account.messages import encode_typed_data


def test_constructor_rejects_bad_configuration(project, admin):
    with ape.reverts(project.CommunityRegistry.RegistryZeroAddress):
        admin.deploy(project.CommunityRegistry, "0x" + "00" * 20, 900, RETAIL_PRICE, FEED_IN_PRICE)
    with ape.reverts(project.CommunityRegistry.RegistryInvalidIntervalSeconds, intervalSeconds=0):
        admin.deploy(project.CommunityRegistry, admin, 0, RETAIL_PRICE, FEED_IN_PRICE)
    with ape.reverts(project.CommunityRegistry.RegistryInvalidIntervalSeconds, intervalSeconds=7):
        admin.deploy(project.CommunityRegistry, admin, 7, RETAIL_PRICE, FEED_IN_PRICE)
    with ape.reverts(project.CommunityRegistry.RegistryInvalidTariffs):
        admin.deploy(project.CommunityRegistry, admin, 900, FEED_IN_PRICE, RETAIL_PRICE)


def test_initial_state(registry, admin, oracle):
    assert registry.intervalSeconds() == INTERVAL_SECONDS
    assert registry.retailPrice() == RETAIL_PRICE
    assert registry.feedInPrice() == FEED_IN_PRICE
    assert registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin)
    assert registry.isOracle(oracle)
    assert not registry.isOracle(admin)


def test_register_household(registry, admin, accounts):
    wallet, meter = accounts[8], accounts.generate_test_account()
    receipt = registry.registerHousehold(wallet, meter, 7_500, sender=admin)
    assert receipt.events == [registry.HouseholdRegistered(household=wallet, meter=meter, capacityW=7_500)]
    info = registry.household(wallet)
    assert info.meter == meter.address and info.capacityW == 7_500 and info.active
    assert registry.householdOfMeter(meter) == wallet
    assert registry.isRegistered(wallet) and registry.isActiveHousehold(wallet)
    assert registry.householdCount() == 1


def test_register_rejects_bad_input(registry, admin, accounts):
    wallet, meter = accounts[8], accounts.generate_test_account()
    zero = "0x" + "00" * 20
    with ape.reverts(registry.RegistryZeroAddress):
        registry.registerHousehold(zero, meter, 1000, sender=admin)
    with ape.reverts(registry.RegistryZeroAddress):
        registry.registerHousehold(wallet, zero, 1000, sender=admin)
    with ape.reverts(registry.RegistryInvalidCapacity, capacityW=0):
        registry.registerHousehold(wallet, meter, 0, sender=admin)
    registry.registerHousehold(wallet, meter, 1000, sender=admin)
    with ape.reverts(registry.RegistryHouseholdAlreadyRegistered, household=wallet):
        registry.registerHousehold(wallet, accounts.generate_test_account(), 1000, sender=admin)
    with ape.reverts(registry.RegistryMeterAlreadyRegistered, meter=meter, household=wallet):
        registry.registerHousehold(accounts[9], meter, 1000, sender=admin)


def test_admin_functions_need_admin_role(registry, outsider, accounts):
    meter = accounts.generate_test_account()
    unauthorized = registry.AccessControlUnauthorizedAccount
    with ape.reverts(unauthorized, account=outsider, neededRole=registry.DEFAULT_ADMIN_ROLE()):
        registry.registerHousehold(outsider, meter, 1000, sender=outsider)
    with ape.reverts(unauthorized):
        registry.setHouseholdActive(outsider, False, sender=outsider)
    with ape.reverts(unauthorized):
        registry.replaceMeter(outsider, meter, sender=outsider)
    with ape.reverts(unauthorized):
        registry.setTariffs(RETAIL_PRICE, FEED_IN_PRICE, sender=outsider)
    with ape.reverts(unauthorized):
        registry.setMechanism("pay-as-clear", "1", sender=outsider)
    with ape.reverts(unauthorized):
        registry.grantRole(registry.ORACLE_ROLE(), outsider, sender=outsider)


def test_deactivate_and_replace_meter(registry, admin, accounts):
    wallet, meter, new_meter = accounts[8], accounts.generate_test_account(), accounts.generate_test_account()
    with ape.reverts(registry.RegistryHouseholdNotRegistered, household=wallet):
        registry.setHouseholdActive(wallet, False, sender=admin)
    with ape.reverts(registry.RegistryHouseholdNotRegistered, household=wallet):
        registry.replaceMeter(wallet, new_meter, sender=admin)
    registry.registerHousehold(wallet, meter, 1000, sender=admin)

    receipt = registry.setHouseholdActive(wallet, False, sender=admin)
    assert receipt.events == [registry.HouseholdActiveSet(household=wallet, active=False)]
    assert registry.isRegistered(wallet) and not registry.isActiveHousehold(wallet)

    with ape.reverts(registry.RegistryMeterAlreadyRegistered):
        registry.replaceMeter(wallet, meter, sender=admin)
    receipt = registry.replaceMeter(wallet, new_meter, sender=admin)
    assert receipt.events == [registry.MeterReplaced(household=wallet, oldMeter=meter, newMeter=new_meter)]
    assert registry.householdOfMeter(meter) == "0x" + "00" * 20
    assert registry.householdOfMeter(new_meter) == wallet
    with ape.reverts(registry.RegistryZeroAddress):
        registry.replaceMeter(wallet, "0x" + "00" * 20, sender=admin)


@pytest.mark.parametrize(
    "retail, feed_in",
    [(100_000, 0), (100_000, 100_001), (100_500, 50_000), (100_000, 50_500)],
)
def test_set_tariffs_rejects_bad_values(registry, admin, retail, feed_in):
    with ape.reverts(registry.RegistryInvalidTariffs, retailPrice=retail, feedInPrice=feed_in):
        registry.setTariffs(retail, feed_in, sender=admin)
    assert registry.retailPrice() == RETAIL_PRICE


def test_set_tariffs_adds_a_flat_version_from_the_next_interval_and_mechanism(chain, registry, admin):
    receipt = registry.setTariffs(180_000, 40_000, sender=admin)
    now = registry.currentInterval()
    assert receipt.events == [
        registry.TariffVersionAdded(
            version=1, scheduleHash=b"\x00" * 32, effectiveFrom=now + 1, bands=[(40_000, 180_000)]
        ),
        registry.TariffsSet(retailPrice=180_000, feedInPrice=40_000),
    ]
    # Never backwards: the current interval keeps the old prices, the next one has the new.
    assert (registry.retailPrice(), registry.feedInPrice()) == (RETAIL_PRICE, FEED_IN_PRICE)
    assert registry.priceBounds(now + 1) == (40_000, 180_000)
    chain.mine(timestamp=(now + 1) * INTERVAL_SECONDS)
    assert (registry.retailPrice(), registry.feedInPrice()) == (180_000, 40_000)
    receipt = registry.setMechanism("pay-as-clear", "1", sender=admin)
    assert receipt.events == [registry.MechanismSet(name="pay-as-clear", version="1")]
    assert registry.mechanismName() == "pay-as-clear" and registry.mechanismVersion() == "1"
    with ape.reverts(registry.RegistryEmptyMechanism):
        registry.setMechanism("", "1", sender=admin)


def test_reading_digest_matches_eth_account_eip712(registry, chain):
    """The chain's EIP-712 encoding is the one meters sign with eth-account."""
    meter = Account.create()
    reading = {
        "meter": meter.address,
        "seq": 7,
        "ts": 1_700_000_000,
        "producedWh": 1234,
        "consumedWh": 987,
        "powerW": 3100,
    }
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "MeterReading": [
                {"name": "meter", "type": "address"},
                {"name": "seq", "type": "uint64"},
                {"name": "ts", "type": "uint64"},
                {"name": "producedWh", "type": "uint64"},
                {"name": "consumedWh", "type": "uint64"},
                {"name": "powerW", "type": "uint32"},
            ],
        },
        "primaryType": "MeterReading",
        "domain": {
            "name": "Vatio Meter",
            "version": "1",
            "chainId": chain.chain_id,
            "verifyingContract": registry.address,
        },
        "message": reading,
    }
    signed = meter.sign_message(encode_typed_data(full_message=typed))
    as_tuple = tuple(reading.values())
    assert registry.readingSigner(as_tuple, signed.signature) == meter.address
    forged = bytearray(signed.signature)
    forged[10] ^= 0xFF
    assert registry.readingSigner(as_tuple, bytes(forged)) != meter.address
    assert registry.readingSigner(as_tuple, b"\x01" * 10) == "0x" + "00" * 20
