// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title CommunityRegistry
/// @notice Who belongs to the energy community (households and their meters),
/// who may act for it (admin, oracle), its grid tariffs and its interval length.
/// Its address is also the `verifyingContract` of the meters' EIP-712 domain
/// {name: "Vatio Meter", version: "1"}, so a reading signed for one community
/// cannot be replayed into another.
contract CommunityRegistry is AccessControl, EIP712 {
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");

    /// @notice Prices are payment base units per kWh. Clearing prices and tariffs
    /// move in ticks of 1000 units (0.001 EUR/kWh with a 6-decimal euro), so the
    /// cost of any whole number of Wh is an exact integer: q * price / 1000.
    uint256 public constant PRICE_TICK = 1000;

    bytes32 public constant METER_READING_TYPEHASH = keccak256(
        "MeterReading(address meter,uint64 seq,uint64 ts,uint64 producedWh,uint64 consumedWh,uint32 powerW)"
    );

    struct Household {
        address meter; // zero while unregistered
        uint32 capacityW; // rated power of the connection, for plausibility checks
        bool active;
    }

    struct MeterReading {
        address meter;
        uint64 seq;
        uint64 ts;
        uint64 producedWh;
        uint64 consumedWh;
        uint32 powerW;
    }

    uint64 public immutable intervalSeconds;
    uint256 public retailPrice;
    uint256 public feedInPrice;
    string public mechanismName;
    string public mechanismVersion;
    uint256 public householdCount;

    mapping(address household => Household) private _households;
    mapping(address meter => address household) public householdOfMeter;

    event HouseholdRegistered(address indexed household, address indexed meter, uint32 capacityW);
    event HouseholdActiveSet(address indexed household, bool active);
    event MeterReplaced(address indexed household, address indexed oldMeter, address indexed newMeter);
    event TariffsSet(uint256 retailPrice, uint256 feedInPrice);
    event MechanismSet(string name, string version);

    error ZeroAddress();
    error InvalidIntervalSeconds(uint64 intervalSeconds);
    error InvalidTariffs(uint256 retailPrice, uint256 feedInPrice);
    error InvalidCapacity(uint32 capacityW);
    error HouseholdAlreadyRegistered(address household);
    error HouseholdNotRegistered(address household);
    error MeterAlreadyRegistered(address meter, address household);
    error EmptyMechanism();

    constructor(address admin, uint64 intervalSeconds_, uint256 retailPrice_, uint256 feedInPrice_)
        EIP712("Vatio Meter", "1")
    {
        if (admin == address(0)) revert ZeroAddress();
        if (intervalSeconds_ == 0 || 86400 % intervalSeconds_ != 0) revert InvalidIntervalSeconds(intervalSeconds_);
        intervalSeconds = intervalSeconds_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setTariffs(retailPrice_, feedInPrice_);
    }

    // --- households and meters (admin) ---

    function registerHousehold(address wallet, address meter, uint32 capacityW)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (wallet == address(0) || meter == address(0)) revert ZeroAddress();
        if (capacityW == 0) revert InvalidCapacity(capacityW);
        if (_households[wallet].meter != address(0)) revert HouseholdAlreadyRegistered(wallet);
        address owner = householdOfMeter[meter];
        if (owner != address(0)) revert MeterAlreadyRegistered(meter, owner);

        _households[wallet] = Household({meter: meter, capacityW: capacityW, active: true});
        householdOfMeter[meter] = wallet;
        householdCount += 1;
        emit HouseholdRegistered(wallet, meter, capacityW);
    }

    function setHouseholdActive(address wallet, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_households[wallet].meter == address(0)) revert HouseholdNotRegistered(wallet);
        _households[wallet].active = active;
        emit HouseholdActiveSet(wallet, active);
    }

    /// @notice A broken or compromised meter gets a new key; the old key stops verifying.
    function replaceMeter(address wallet, address newMeter) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newMeter == address(0)) revert ZeroAddress();
        address oldMeter = _households[wallet].meter;
        if (oldMeter == address(0)) revert HouseholdNotRegistered(wallet);
        address owner = householdOfMeter[newMeter];
        if (owner != address(0)) revert MeterAlreadyRegistered(newMeter, owner);

        delete householdOfMeter[oldMeter];
        householdOfMeter[newMeter] = wallet;
        _households[wallet].meter = newMeter;
        emit MeterReplaced(wallet, oldMeter, newMeter);
    }

    // --- tariffs and mechanism (admin) ---

    function setTariffs(uint256 retailPrice_, uint256 feedInPrice_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTariffs(retailPrice_, feedInPrice_);
    }

    /// @notice Records which clearing mechanism the oracle runs, so auditors
    /// re-run the same one.
    function setMechanism(string calldata name, string calldata version) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (bytes(name).length == 0 || bytes(version).length == 0) revert EmptyMechanism();
        mechanismName = name;
        mechanismVersion = version;
        emit MechanismSet(name, version);
    }

    // --- views ---

    function household(address wallet) external view returns (Household memory) {
        return _households[wallet];
    }

    function isRegistered(address wallet) public view returns (bool) {
        return _households[wallet].meter != address(0);
    }

    function isActiveHousehold(address wallet) external view returns (bool) {
        return _households[wallet].active;
    }

    function currentInterval() external view returns (uint64) {
        return uint64(block.timestamp / intervalSeconds);
    }

    function isOracle(address account) external view returns (bool) {
        return hasRole(ORACLE_ROLE, account);
    }

    /// @notice The EIP-712 digest a meter signs; exposed so that off-chain
    /// verifiers can check their encoding against the chain's.
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

    /// @notice Who signed a reading, or the zero address for a malformed signature.
    function readingSigner(MeterReading calldata reading, bytes calldata signature) external view returns (address) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(readingDigest(reading), signature);
        return err == ECDSA.RecoverError.NoError ? signer : address(0);
    }

    function _setTariffs(uint256 retailPrice_, uint256 feedInPrice_) private {
        if (
            feedInPrice_ == 0 || feedInPrice_ > retailPrice_ || retailPrice_ % PRICE_TICK != 0
                || feedInPrice_ % PRICE_TICK != 0
        ) revert InvalidTariffs(retailPrice_, feedInPrice_);
        retailPrice = retailPrice_;
        feedInPrice = feedInPrice_;
        emit TariffsSet(retailPrice_, feedInPrice_);
    }
}
