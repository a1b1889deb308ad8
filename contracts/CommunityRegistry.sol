// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ICommunityRegistry} from "./interfaces/ICommunityRegistry.sol";

/// @title CommunityRegistry
/// @notice Households and their meters, the admin and oracle roles, grid
/// tariffs and the interval length of one energy community; the meters'
/// EIP-712 verifying contract. ICommunityRegistry documents each part.
contract CommunityRegistry is AccessControl, EIP712, ICommunityRegistry {
    /// @inheritdoc ICommunityRegistry
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");

    /// @inheritdoc ICommunityRegistry
    uint256 public constant PRICE_TICK = 1000;

    // The type string is hashed at compile time: no string is stored or copied (gas-small-strings).
    /// @inheritdoc ICommunityRegistry
    bytes32 public constant METER_READING_TYPEHASH = keccak256( // solhint-disable-line gas-small-strings
        "MeterReading(address meter,uint64 seq,uint64 ts,uint64 producedWh,uint64 consumedWh,uint32 powerW)"
    );

    // UPPER_CASE like constants; intervalSeconds() keeps the ABI name (ICommunityRegistry says why).
    uint64 private immutable INTERVAL_SECONDS;
    /// @inheritdoc ICommunityRegistry
    uint256 public retailPrice;
    /// @inheritdoc ICommunityRegistry
    uint256 public feedInPrice;
    /// @inheritdoc ICommunityRegistry
    string public mechanismName;
    /// @inheritdoc ICommunityRegistry
    string public mechanismVersion;
    /// @inheritdoc ICommunityRegistry
    uint256 public householdCount;

    mapping(address household => Household) private _households;
    /// @inheritdoc ICommunityRegistry
    mapping(address meter => address household) public householdOfMeter;

    constructor(address admin, uint64 intervalSeconds_, uint256 retailPrice_, uint256 feedInPrice_)
        EIP712("Vatio Meter", "1")
    {
        if (admin == address(0)) revert RegistryZeroAddress();
        if (intervalSeconds_ == 0 || 86400 % intervalSeconds_ != 0) {
            revert RegistryInvalidIntervalSeconds(intervalSeconds_);
        }
        INTERVAL_SECONDS = intervalSeconds_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setTariffs(retailPrice_, feedInPrice_);
    }

    // --- households and meters (admin) ---

    /// @inheritdoc ICommunityRegistry
    function registerHousehold(address wallet, address meter, uint32 capacityW)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (wallet == address(0) || meter == address(0)) revert RegistryZeroAddress();
        if (capacityW == 0) revert RegistryInvalidCapacity(capacityW);
        if (_households[wallet].meter != address(0)) revert RegistryHouseholdAlreadyRegistered(wallet);
        address owner = householdOfMeter[meter];
        if (owner != address(0)) revert RegistryMeterAlreadyRegistered(meter, owner);

        _households[wallet] = Household({meter: meter, capacityW: capacityW, active: true});
        householdOfMeter[meter] = wallet;
        ++householdCount;
        emit HouseholdRegistered(wallet, meter, capacityW);
    }

    /// @inheritdoc ICommunityRegistry
    function setHouseholdActive(address wallet, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_households[wallet].meter == address(0)) revert RegistryHouseholdNotRegistered(wallet);
        _households[wallet].active = active;
        emit HouseholdActiveSet(wallet, active);
    }

    /// @inheritdoc ICommunityRegistry
    function replaceMeter(address wallet, address newMeter) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newMeter == address(0)) revert RegistryZeroAddress();
        address oldMeter = _households[wallet].meter;
        if (oldMeter == address(0)) revert RegistryHouseholdNotRegistered(wallet);
        address owner = householdOfMeter[newMeter];
        if (owner != address(0)) revert RegistryMeterAlreadyRegistered(newMeter, owner);

        delete householdOfMeter[oldMeter];
        householdOfMeter[newMeter] = wallet;
        _households[wallet].meter = newMeter;
        emit MeterReplaced(wallet, oldMeter, newMeter);
    }

    // --- tariffs and mechanism (admin) ---

    /// @inheritdoc ICommunityRegistry
    function setTariffs(uint256 retailPrice_, uint256 feedInPrice_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTariffs(retailPrice_, feedInPrice_);
    }

    /// @inheritdoc ICommunityRegistry
    function setMechanism(string calldata name, string calldata version) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (bytes(name).length == 0 || bytes(version).length == 0) revert RegistryEmptyMechanism();
        mechanismName = name;
        mechanismVersion = version;
        emit MechanismSet(name, version);
    }

    // --- views ---

    /// @inheritdoc ICommunityRegistry
    function intervalSeconds() external view returns (uint64) {
        return INTERVAL_SECONDS;
    }

    /// @inheritdoc ICommunityRegistry
    function household(address wallet) external view returns (Household memory) {
        return _households[wallet];
    }

    /// @inheritdoc ICommunityRegistry
    function isRegistered(address wallet) public view returns (bool) {
        return _households[wallet].meter != address(0);
    }

    /// @inheritdoc ICommunityRegistry
    function isActiveHousehold(address wallet) external view returns (bool) {
        return _households[wallet].active;
    }

    /// @inheritdoc ICommunityRegistry
    function currentInterval() external view returns (uint64) {
        return uint64(block.timestamp / INTERVAL_SECONDS);
    }

    /// @inheritdoc ICommunityRegistry
    function isOracle(address account) external view returns (bool) {
        return hasRole(ORACLE_ROLE, account);
    }

    /// @inheritdoc ICommunityRegistry
    function readingDigest(MeterReading calldata reading) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    METER_READING_TYPEHASH,
                    reading.meter,
                    reading.seq,
                    reading.ts,
                    reading.producedWh,
                    reading.consumedWh,
                    reading.powerW
                )
            )
        );
    }

    /// @inheritdoc ICommunityRegistry
    function readingSigner(MeterReading calldata reading, bytes calldata signature) external view returns (address) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(readingDigest(reading), signature);
        return err == ECDSA.RecoverError.NoError ? signer : address(0);
    }

    function _setTariffs(uint256 retailPrice_, uint256 feedInPrice_) private {
        if (
            feedInPrice_ == 0 || feedInPrice_ > retailPrice_ || retailPrice_ % PRICE_TICK != 0
                || feedInPrice_ % PRICE_TICK != 0
        ) revert RegistryInvalidTariffs(retailPrice_, feedInPrice_);
        retailPrice = retailPrice_;
        feedInPrice = feedInPrice_;
        emit TariffsSet(retailPrice_, feedInPrice_);
    }
}
