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
    uint256 private constant SECONDS_PER_DAY = 86400;
    uint256 private constant SECONDS_PER_HOUR = 3600;
    // Bits above UTC hour 23 of a calendar word.
    uint256 private constant CALENDAR_UNUSED_BITS = ~uint256(0) << 192;
    /// @inheritdoc ICommunityRegistry
    string public mechanismName;
    /// @inheritdoc ICommunityRegistry
    string public mechanismVersion;
    /// @inheritdoc ICommunityRegistry
    uint256 public householdCount;

    mapping(address household => Household) private _households;
    TariffVersion[] private _tariffVersions;
    // key: version << 8 | band
    mapping(uint256 key => BandBounds) private _bandBounds;
    // key: version << 64 | UTC day; byte h = 1 + band index of UTC hour h
    mapping(uint256 key => uint256 word) private _bandCalendar;
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
        _checkFlatTariffs(retailPrice_, feedInPrice_);
        _addVersion(bytes32(0), 0, _flatBands(retailPrice_, feedInPrice_));
        emit TariffsSet(retailPrice_, feedInPrice_);
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
        _checkFlatTariffs(retailPrice_, feedInPrice_);
        _addVersion(bytes32(0), _earliestNewVersion(), _flatBands(retailPrice_, feedInPrice_));
        emit TariffsSet(retailPrice_, feedInPrice_);
    }

    /// @inheritdoc ICommunityRegistry
    function addTariffVersion(bytes32 scheduleHash, uint64 effectiveFrom, BandBounds[] calldata bands)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint32 version)
    {
        uint64 earliest = _earliestNewVersion();
        if (effectiveFrom < earliest) revert RegistryTariffNotInFuture(effectiveFrom, earliest);
        version = _addVersion(scheduleHash, effectiveFrom, bands);
    }

    /// @inheritdoc ICommunityRegistry
    function setBandCalendar(uint32 version, uint64 firstDay, uint256[] calldata dayWords)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (version >= _tariffVersions.length) revert RegistryUnknownTariffVersion(version);
        uint256 bandCount = _tariffVersions[version].bandCount;
        for (uint256 i = 0; i < dayWords.length; ++i) {
            uint64 day = firstDay + uint64(i);
            uint256 word = dayWords[i];
            if (word & CALENDAR_UNUSED_BITS != 0) revert RegistryInvalidCalendar(day, 24, word >> 192);
            for (uint256 hour = 0; hour < 24; ++hour) {
                uint256 value = (word >> (8 * hour)) & 0xff;
                if (value == 0 || value > bandCount) revert RegistryInvalidCalendar(day, hour, value);
            }
            uint256 key = (uint256(version) << 64) | day;
            // A day already set is fixed from its first second on: never a band changed backwards.
            if (_bandCalendar[key] != 0 && uint256(day) * SECONDS_PER_DAY <= block.timestamp) {
                revert RegistryCalendarDayFixed(version, day);
            }
            _bandCalendar[key] = word;
        }
        emit BandCalendarSet(version, firstDay, dayWords);
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
    function retailPrice() external view returns (uint256 retail) {
        (, retail) = priceBounds(uint64(block.timestamp / INTERVAL_SECONDS));
    }

    /// @inheritdoc ICommunityRegistry
    function feedInPrice() external view returns (uint256 feedIn) {
        (feedIn,) = priceBounds(uint64(block.timestamp / INTERVAL_SECONDS));
    }

    /// @inheritdoc ICommunityRegistry
    function tariffVersionCount() external view returns (uint256) {
        return _tariffVersions.length;
    }

    /// @inheritdoc ICommunityRegistry
    function tariffVersion(uint32 version) external view returns (TariffVersion memory) {
        if (version >= _tariffVersions.length) revert RegistryUnknownTariffVersion(version);
        return _tariffVersions[version];
    }

    /// @inheritdoc ICommunityRegistry
    function bandBounds(uint32 version, uint8 band) external view returns (BandBounds memory) {
        return _bandBounds[(uint256(version) << 8) | band];
    }

    /// @inheritdoc ICommunityRegistry
    function bandCalendar(uint32 version, uint64 day) external view returns (uint256) {
        return _bandCalendar[(uint256(version) << 64) | day];
    }

    /// @inheritdoc ICommunityRegistry
    function bandOf(uint64 intervalId) public view returns (uint32 version, uint8 band) {
        (version,) = _versionAt(intervalId);
        if (_tariffVersions[version].bandCount == 1) return (version, 0);
        uint256 start = uint256(intervalId) * INTERVAL_SECONDS;
        uint256 day = start / SECONDS_PER_DAY;
        // The hour of the UTC day picks its band's byte in the day's word (byte h = 1 + band of hour h).
        uint256 hourOfDay = (start - day * SECONDS_PER_DAY) / SECONDS_PER_HOUR;
        uint256 value = (_bandCalendar[(uint256(version) << 64) | day] >> (8 * hourOfDay)) & 0xff;
        if (value == 0) revert RegistryNoBand(intervalId, version);
        band = uint8(value - 1);
    }

    /// @inheritdoc ICommunityRegistry
    function priceBounds(uint64 intervalId) public view returns (uint256 feedIn, uint256 retail) {
        (uint32 version, uint8 band) = bandOf(intervalId);
        BandBounds storage bounds = _bandBounds[(uint256(version) << 8) | band];
        return (bounds.feedInPrice, bounds.retailPrice);
    }

    /// @inheritdoc ICommunityRegistry
    function tariffEnvelope() external view returns (uint256 minFeedIn, uint256 maxRetail) {
        (uint32 version,) = _versionAt(uint64(block.timestamp / INTERVAL_SECONDS));
        TariffVersion storage current = _tariffVersions[version];
        return (current.minFeedInPrice, current.maxRetailPrice);
    }

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

    // Versions start in increasing order; an interval is almost always in the last one or the one before.
    function _versionAt(uint64 intervalId) private view returns (uint32, uint64) {
        uint256 index = _tariffVersions.length - 1;
        while (index != 0 && _tariffVersions[index].effectiveFrom > intervalId) --index;
        return (uint32(index), _tariffVersions[index].effectiveFrom);
    }

    function _earliestNewVersion() private view returns (uint64 earliest) {
        earliest = uint64(block.timestamp / INTERVAL_SECONDS) + 1;
        uint64 lastStart = _tariffVersions[_tariffVersions.length - 1].effectiveFrom;
        if (lastStart >= earliest) earliest = lastStart + 1;
    }

    function _checkFlatTariffs(uint256 retailPrice_, uint256 feedInPrice_) private pure {
        if (
            feedInPrice_ == 0 || feedInPrice_ > retailPrice_ || retailPrice_ % PRICE_TICK != 0
                || feedInPrice_ % PRICE_TICK != 0 || retailPrice_ > type(uint64).max
        ) revert RegistryInvalidTariffs(retailPrice_, feedInPrice_);
    }

    function _flatBands(uint256 retailPrice_, uint256 feedInPrice_) private pure returns (BandBounds[] memory bands) {
        bands = new BandBounds[](1);
        bands[0] = BandBounds({feedInPrice: uint64(feedInPrice_), retailPrice: uint64(retailPrice_)});
    }

    function _addVersion(bytes32 scheduleHash, uint64 effectiveFrom, BandBounds[] memory bands)
        private
        returns (uint32 version)
    {
        if (bands.length == 0 || bands.length > 255) revert RegistryInvalidBandBounds(bands.length, 0, 0);
        version = uint32(_tariffVersions.length);
        uint64 minFeedIn = type(uint64).max;
        uint64 maxRetail = 0;
        for (uint256 i = 0; i < bands.length; ++i) {
            BandBounds memory bounds = bands[i];
            if (
                bounds.retailPrice == 0 || bounds.feedInPrice > bounds.retailPrice
                    || bounds.retailPrice % PRICE_TICK != 0 || bounds.feedInPrice % PRICE_TICK != 0
            ) revert RegistryInvalidBandBounds(i, bounds.feedInPrice, bounds.retailPrice);
            _bandBounds[(uint256(version) << 8) | i] = bounds;
            if (bounds.feedInPrice < minFeedIn) minFeedIn = bounds.feedInPrice;
            if (bounds.retailPrice > maxRetail) maxRetail = bounds.retailPrice;
        }
        _tariffVersions.push(
            TariffVersion({
                scheduleHash: scheduleHash,
                effectiveFrom: effectiveFrom,
                bandCount: uint8(bands.length),
                minFeedInPrice: minFeedIn,
                maxRetailPrice: maxRetail
            })
        );
        emit TariffVersionAdded(version, scheduleHash, effectiveFrom, bands);
    }
}
