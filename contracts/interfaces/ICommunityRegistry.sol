// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title ICommunityRegistry
/// @notice Who belongs to the energy community (households and their meters),
/// who may act for it (admin, oracle), its grid tariffs and its interval length.
/// Its address is also the `verifyingContract` of the meters' EIP-712 domain
/// {name: "Vatio Meter", version: "1"}, so a reading signed for one community
/// cannot be replayed into another.
/// @dev Naming, settled before any public deployment:
/// - Custom errors are `Registry<Problem>(offending values)`, like
///   OpenZeppelin's `AccessControl...` and `ERC20...`: wallets, the oracle and
///   the browser decode the errors of several contracts against one table, and
///   a prefixed name says which contract refused.
/// - Immutables are UPPER_CASE in the implementation, like constants, because
///   both are fixed in the bytecode and cost no storage read. The getters that
///   expose them keep their mixedCase ABI names (`intervalSeconds()`), which
///   the backend, the indexer and the browser call; a getter is ABI, an
///   immutable is an implementation detail.
/// - Getters of constants are UPPER_CASE like the constants (`PRICE_TICK()`, as
///   OpenZeppelin's `DEFAULT_ADMIN_ROLE()`), hence their func-name-mixedcase
///   exceptions.
interface ICommunityRegistry is IAccessControl {
    /// @notice A household's registration.
    /// @dev `meter` is zero while the household is unregistered; `capacityW` is
    /// the rated power of its connection, for plausibility checks.
    struct Household {
        address meter;
        uint32 capacityW;
        bool active;
    }

    /// @notice The EIP-712 struct a meter signs (see METER_READING_TYPEHASH).
    struct MeterReading {
        address meter;
        uint64 seq;
        uint64 ts;
        uint64 producedWh;
        uint64 consumedWh;
        uint32 powerW;
    }

    /// @notice The market price bounds of one tariff band, payment units per kWh:
    /// every order limit and clearing price in the band lies in [feedInPrice, retailPrice].
    struct BandBounds {
        uint64 feedInPrice;
        uint64 retailPrice;
    }

    /// @notice One version of the community's tariff schedule.
    /// @dev `scheduleHash` is keccak256 of the schedule file's bytes (docs/tariffs.md), so anyone can
    /// check the published file; `effectiveFrom` is the first interval it applies to; the envelope
    /// (lowest feed-in, highest retail of its bands) bounds the interval-free auto orders.
    struct TariffVersion {
        bytes32 scheduleHash;
        uint64 effectiveFrom;
        uint8 bandCount;
        uint64 minFeedInPrice;
        uint64 maxRetailPrice;
    }

    /// @notice A household joined with its meter.
    /// @param household the household's wallet
    /// @param meter the address of the meter's signing key
    /// @param capacityW rated power of the connection, in W
    event HouseholdRegistered(address indexed household, address indexed meter, uint32 capacityW);

    /// @notice A household was (de)activated; inactive households cannot trade.
    /// @param household the household's wallet
    /// @param active whether it may trade now
    event HouseholdActiveSet(address indexed household, bool active);

    /// @notice A household's meter got a new key; the old key stops verifying.
    /// @param household the household's wallet
    /// @param oldMeter the key that no longer verifies
    /// @param newMeter the key that verifies from now on
    event MeterReplaced(address indexed household, address indexed oldMeter, address indexed newMeter);

    /// @notice The grid tariffs that bound every price changed.
    /// @param retailPrice what the grid charges, payment units per kWh
    /// @param feedInPrice what the grid pays for exported energy, payment units per kWh
    event TariffsSet(uint256 retailPrice, uint256 feedInPrice);

    /// @notice A tariff schedule version was registered; it applies from `effectiveFrom` on.
    /// @param version its number (0 is the deployment's flat tariff)
    /// @param scheduleHash keccak256 of the schedule file (zero for a flat tariff set by setTariffs)
    /// @param effectiveFrom the first interval it applies to, always in the future when added
    /// @param bands each band's price bounds, by band index
    event TariffVersionAdded(uint32 indexed version, bytes32 scheduleHash, uint64 effectiveFrom, BandBounds[] bands);

    /// @notice Which band each UTC hour of some UTC days is in, under one version.
    /// @param version the tariff version
    /// @param firstDay the first UTC day (days since 1970-01-01)
    /// @param dayWords one word per day: byte h (bits 8h..8h+7) is 1 + the band index of UTC hour h
    event BandCalendarSet(uint32 indexed version, uint64 firstDay, uint256[] dayWords);

    /// @notice The clearing mechanism the oracle runs changed.
    /// @param name the mechanism's name, e.g. "pay-as-clear"
    /// @param version its version, so auditors re-run the same code
    event MechanismSet(string name, string version);

    /// @notice An address that must be set is the zero address.
    error RegistryZeroAddress();

    /// @notice The interval length does not divide a day into whole intervals.
    /// @param intervalSeconds the length given
    error RegistryInvalidIntervalSeconds(uint64 intervalSeconds);

    /// @notice Tariffs off the price tick, a zero feed-in price, or feed-in above retail.
    /// @param retailPrice the retail price given
    /// @param feedInPrice the feed-in price given
    error RegistryInvalidTariffs(uint256 retailPrice, uint256 feedInPrice);

    /// @notice A tariff version needs 1 to 255 bands, each on the price tick with feed-in <= retail and retail > 0.
    /// @param band the offending band's index (the band count when the count is wrong)
    /// @param feedInPrice its feed-in bound
    /// @param retailPrice its retail bound
    error RegistryInvalidBandBounds(uint256 band, uint256 feedInPrice, uint256 retailPrice);

    /// @notice A tariff version must apply from a future interval, after the last version's start.
    /// @param effectiveFrom the interval given
    /// @param earliest the earliest interval allowed now
    error RegistryTariffNotInFuture(uint64 effectiveFrom, uint64 earliest);

    /// @notice No such tariff version.
    /// @param version the version given
    error RegistryUnknownTariffVersion(uint32 version);

    /// @notice A calendar word names no band, or a band the version does not have, or uses bits above hour 23.
    /// @param day the UTC day
    /// @param hour the UTC hour (24 for bits above hour 23)
    /// @param value the byte found
    error RegistryInvalidCalendar(uint64 day, uint256 hour, uint256 value);

    /// @notice A day's bands that are already set cannot change once the day has begun.
    /// @param version the tariff version
    /// @param day the UTC day
    error RegistryCalendarDayFixed(uint32 version, uint64 day);

    /// @notice The interval's day has no band calendar under the version in force (the admin pushes days ahead).
    /// @param intervalId the interval
    /// @param version the version in force
    error RegistryNoBand(uint64 intervalId, uint32 version);

    /// @notice A household's connection needs a capacity above zero.
    /// @param capacityW the capacity given
    error RegistryInvalidCapacity(uint32 capacityW);

    /// @notice The household already has a meter.
    /// @param household the household's wallet
    error RegistryHouseholdAlreadyRegistered(address household);

    /// @notice The household was never registered.
    /// @param household the wallet given
    error RegistryHouseholdNotRegistered(address household);

    /// @notice The meter key already belongs to a household.
    /// @param meter the meter's address
    /// @param household the household it belongs to
    error RegistryMeterAlreadyRegistered(address meter, address household);

    /// @notice A mechanism needs a name and a version.
    error RegistryEmptyMechanism();

    /// @notice Registers a household with its meter; only the admin.
    /// @param wallet the household's wallet
    /// @param meter the address of the meter's signing key
    /// @param capacityW rated power of the connection, in W
    function registerHousehold(address wallet, address meter, uint32 capacityW) external;

    /// @notice (De)activates a household; only the admin.
    /// @param wallet the household's wallet
    /// @param active whether it may trade
    function setHouseholdActive(address wallet, bool active) external;

    /// @notice A broken or compromised meter gets a new key; the old key stops verifying.
    /// @param wallet the household's wallet
    /// @param newMeter the address of the new key
    function replaceMeter(address wallet, address newMeter) external;

    /// @notice A flat tariff (one band, no schedule file) from the next interval on, as a new
    /// version; both prices multiples of PRICE_TICK; only the admin.
    /// @param retailPrice_ what the grid charges, payment units per kWh
    /// @param feedInPrice_ what the grid pays, above zero and not above retail
    function setTariffs(uint256 retailPrice_, uint256 feedInPrice_) external;

    /// @notice Registers a tariff schedule version with its bands' price bounds; only the admin.
    /// A version with several bands also needs its band calendar (setBandCalendar) for the
    /// days it applies to.
    /// @param scheduleHash keccak256 of the schedule file's bytes
    /// @param effectiveFrom the first interval it applies to: after the current interval and the last version's start
    /// @param bands each band's bounds, by band index
    /// @return version the new version's number
    function addTariffVersion(bytes32 scheduleHash, uint64 effectiveFrom, BandBounds[] calldata bands)
        external
        returns (uint32 version);

    /// @notice Sets which band each UTC hour of consecutive UTC days is in, under one version; only the admin.
    /// A day already set cannot change once it has begun.
    /// @param version the tariff version
    /// @param firstDay the first UTC day (days since 1970-01-01)
    /// @param dayWords one word per day: byte h is 1 + the band index of UTC hour h, bits above hour 23 zero
    function setBandCalendar(uint32 version, uint64 firstDay, uint256[] calldata dayWords) external;

    /// @notice Records which clearing mechanism the oracle runs, so auditors
    /// re-run the same one; only the admin.
    /// @param name the mechanism's name
    /// @param version its version
    function setMechanism(string calldata name, string calldata version) external;

    /// @notice The role of the account that settles intervals.
    /// @return the role id, keccak256("ORACLE_ROLE")
    function ORACLE_ROLE() external view returns (bytes32); // solhint-disable-line func-name-mixedcase

    /// @notice Prices are payment base units per kWh. Clearing prices and tariffs
    /// move in ticks of 1000 units (0.001 EUR/kWh with a 6-decimal euro), so the
    /// cost of any whole number of Wh is an exact integer: q * price / 1000.
    /// @return the tick
    function PRICE_TICK() external view returns (uint256); // solhint-disable-line func-name-mixedcase

    /// @notice The EIP-712 type hash of MeterReading.
    /// @return keccak256 of the MeterReading type string
    function METER_READING_TYPEHASH() external view returns (bytes32); // solhint-disable-line func-name-mixedcase

    /// @notice The interval length in seconds, fixed at deployment; it divides a day.
    /// @return the length
    function intervalSeconds() external view returns (uint64);

    /// @notice The retail bound of the current interval's band, payment units per kWh.
    /// @return the price
    function retailPrice() external view returns (uint256);

    /// @notice The feed-in bound of the current interval's band, payment units per kWh.
    /// @return the price
    function feedInPrice() external view returns (uint256);

    /// @notice How many tariff versions exist (version 0 is the deployment's).
    /// @return the count
    function tariffVersionCount() external view returns (uint256);

    /// @notice One tariff version.
    /// @param version its number
    /// @return the version's hash, start, band count and envelope
    function tariffVersion(uint32 version) external view returns (TariffVersion memory);

    /// @notice One band's price bounds under one version.
    /// @param version the version
    /// @param band the band index
    /// @return the bounds
    function bandBounds(uint32 version, uint8 band) external view returns (BandBounds memory);

    /// @notice The band calendar word of one UTC day under one version (0 when unset).
    /// @param version the version
    /// @param day the UTC day
    /// @return byte h is 1 + the band index of UTC hour h
    function bandCalendar(uint32 version, uint64 day) external view returns (uint256);

    /// @notice The tariff version and band an interval is in.
    /// @param intervalId the interval
    /// @return version the version in force at the interval
    /// @return band the band index of the interval's start hour
    function bandOf(uint64 intervalId) external view returns (uint32 version, uint8 band);

    /// @notice The price bounds of an interval's band.
    /// @param intervalId the interval
    /// @return feedIn the lowest price allowed
    /// @return retail the highest price allowed
    function priceBounds(uint64 intervalId) external view returns (uint256 feedIn, uint256 retail);

    /// @notice The lowest feed-in and highest retail bound of the version in force now (for auto orders).
    /// @return minFeedIn the lowest feed-in bound
    /// @return maxRetail the highest retail bound
    function tariffEnvelope() external view returns (uint256 minFeedIn, uint256 maxRetail);

    /// @notice The clearing mechanism the oracle runs.
    /// @return the name set by setMechanism
    function mechanismName() external view returns (string memory);

    /// @notice The version of the clearing mechanism.
    /// @return the version set by setMechanism
    function mechanismVersion() external view returns (string memory);

    /// @notice How many households were ever registered.
    /// @return the count
    function householdCount() external view returns (uint256);

    /// @notice The household a meter key belongs to.
    /// @param meter the meter's address
    /// @return the household's wallet, or zero
    function householdOfMeter(address meter) external view returns (address);

    /// @notice A household's registration.
    /// @param wallet the household's wallet
    /// @return its meter, capacity and whether it is active
    function household(address wallet) external view returns (Household memory);

    /// @notice Whether the wallet was ever registered (active or not).
    /// @param wallet the wallet
    /// @return true when it has a meter
    function isRegistered(address wallet) external view returns (bool);

    /// @notice Whether the wallet is a household that may trade now.
    /// @param wallet the wallet
    /// @return true when registered and active
    function isActiveHousehold(address wallet) external view returns (bool);

    /// @notice The id of the interval the chain's clock is in.
    /// @return floor(block.timestamp / intervalSeconds)
    function currentInterval() external view returns (uint64);

    /// @notice Whether an account may settle intervals.
    /// @param account the account
    /// @return true when it holds ORACLE_ROLE
    function isOracle(address account) external view returns (bool);

    /// @notice The EIP-712 digest a meter signs; exposed so that off-chain
    /// verifiers can check their encoding against the chain's.
    /// @param reading the reading
    /// @return the digest
    function readingDigest(MeterReading calldata reading) external view returns (bytes32);

    /// @notice Who signed a reading, or the zero address for a malformed signature.
    /// @param reading the reading
    /// @param signature 65 bytes, r || s || v
    /// @return the signer
    function readingSigner(MeterReading calldata reading, bytes calldata signature) external view returns (address);
}
