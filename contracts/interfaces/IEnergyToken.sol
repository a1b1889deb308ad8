// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/// @title IEnergyToken
/// @notice Verified community energy as an ERC-20: 3 decimals, so 1 base unit
/// is 1 Wh and 1 token is 1 kWh. Tokens come into existence only when a
/// settlement mints a household's metered surplus, and leave it only when a
/// settlement burns them against a metered deficit.
/// @dev Naming, settled before any public deployment:
/// - The token adds no custom errors of its own: a refusal is one of
///   OpenZeppelin's `ERC20...` or `AccessControl...` errors, which already
///   carry their contract's prefix (the house rule `<Contract><Problem>` that
///   IEnergyMarket and ICommunityRegistry follow).
/// - Getters of constants are UPPER_CASE like the constants (`SETTLEMENT_ROLE()`,
///   as OpenZeppelin's `DEFAULT_ADMIN_ROLE()`), hence their func-name-mixedcase
///   exception.
interface IEnergyToken is IERC20Metadata, IAccessControl {
    /// @notice The role of the market, the only account that mints and burns.
    /// @return the role id, keccak256("SETTLEMENT_ROLE")
    function SETTLEMENT_ROLE() external view returns (bytes32); // solhint-disable-line func-name-mixedcase

    /// @notice Mints a household's metered surplus (or a bought amount); only SETTLEMENT_ROLE.
    /// @param to the receiver
    /// @param amountWh energy in Wh (token base units)
    function mint(address to, uint256 amountWh) external;

    /// @notice Burns held tokens against metered consumption; only SETTLEMENT_ROLE.
    /// No allowance: covering a deficit from credits is the community's
    /// net-billing rule, which every household accepts by joining.
    /// @param from the holder
    /// @param amountWh energy in Wh (token base units)
    function burn(address from, uint256 amountWh) external;
}
