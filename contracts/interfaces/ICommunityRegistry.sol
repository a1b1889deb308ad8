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

    /// @notice Sets the grid tariffs, both multiples of PRICE_TICK; only the admin.
    /// @param retailPrice_ what the grid charges, payment units per kWh
    /// @param feedInPrice_ what the grid pays, above zero and not above retail
    function setTariffs(uint256 retailPrice_, uint256 feedInPrice_) external;

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

    /// @notice What the grid charges, payment units per kWh.
    /// @return the price
    function retailPrice() external view returns (uint256);

    /// @notice What the grid pays for exported energy, payment units per kWh.
    /// @return the price
    function feedInPrice() external view returns (uint256);

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
