// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {ICommunityRegistry} from "./interfaces/ICommunityRegistry.sol";

/// @title CommunityRegistry
/// @notice Households and their meters, the admin and oracle roles, grid
/// tariffs and the interval length of one energy community; the meters'
/// EIP-712 verifying contract. ICommunityRegistry documents each part.
/// @dev The EIP-712 domain is built here rather than with OpenZeppelin's EIP712:
/// that one imports Strings and Bytes, whose `mcopy` does not compile for
/// London-level EVMs (Energy Web Chain), and the contracts build for both levels.
contract CommunityRegistry is AccessControl, IERC5267, ICommunityRegistry {
    /// @inheritdoc ICommunityRegistry
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");

    /// @inheritdoc ICommunityRegistry
    uint256 public constant PRICE_TICK = 1000;

    // The type string is hashed at compile time: no string is stored or copied (gas-small-strings).
    /// @inheritdoc ICommunityRegistry
    bytes32 public constant METER_READING_TYPEHASH = keccak256( // solhint-disable-line gas-small-strings
        "MeterReading(address meter,uint64 seq,uint64 ts,uint64 producedWh,uint64 consumedWh,uint32 powerW)"
    );

    bytes32 private constant DOMAIN_TYPEHASH = keccak256( // solhint-disable-line gas-small-strings
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    bytes32 private constant DOMAIN_NAME_HASH = keccak256("Vatio Meter");
    bytes32 private constant DOMAIN_VERSION_HASH = keccak256("1");

    // The domain separator of the deployment chain, rebuilt only after a fork changes the chain id.
    bytes32 private immutable CACHED_DOMAIN_SEPARATOR;
    uint256 private immutable CACHED_CHAIN_ID;

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

    constructor(address admin, uint64 intervalSeconds_, uint256 retailPrice_, uint256 feedInPrice_) {
        if (admin == address(0)) revert RegistryZeroAddress();
        if (intervalSeconds_ == 0 || 86400 % intervalSeconds_ != 0) {
            revert RegistryInvalidIntervalSeconds(intervalSeconds_);
        }
        INTERVAL_SECONDS = intervalSeconds_;
        CACHED_CHAIN_ID = block.chainid;
        CACHED_DOMAIN_SEPARATOR = _buildDomainSeparator();
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
        bytes32 structHash = keccak256(
            abi.encode(
                METER_READING_TYPEHASH,
                reading.meter,
                reading.seq,
                reading.ts,
                reading.producedWh,
                reading.consumedWh,
                reading.powerW
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash));
    }

    /// @inheritdoc IERC5267
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", "Vatio Meter", "1", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @inheritdoc ICommunityRegistry
    function readingSigner(MeterReading calldata reading, bytes calldata signature) external view returns (address) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(readingDigest(reading), signature);
        return err == ECDSA.RecoverError.NoError ? signer : address(0);
    }

    function _domainSeparator() private view returns (bytes32) {
        return block.chainid == CACHED_CHAIN_ID ? CACHED_DOMAIN_SEPARATOR : _buildDomainSeparator();
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, DOMAIN_NAME_HASH, DOMAIN_VERSION_HASH, block.chainid, address(this)));
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
