// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title EnergyToken
/// @notice Verified community energy as an ERC-20: 3 decimals, so 1 base unit
/// is 1 Wh and 1 token is 1 kWh. Tokens come into existence only when a
/// settlement mints a household's metered surplus, and leave it only when a
/// settlement burns them against a metered deficit.
contract EnergyToken is ERC20, AccessControl {
    bytes32 public constant SETTLEMENT_ROLE = keccak256("SETTLEMENT_ROLE");

    constructor(address admin) ERC20("Vatio Energy kWh", "kWh") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    function decimals() public pure override returns (uint8) {
        return 3;
    }

    function mint(address to, uint256 amountWh) external onlyRole(SETTLEMENT_ROLE) {
        _mint(to, amountWh);
    }

    /// @notice Burns held tokens against metered consumption. No allowance:
    /// covering a deficit from credits is the community's net-billing rule,
    /// which every household accepts by joining.
    function burn(address from, uint256 amountWh) external onlyRole(SETTLEMENT_ROLE) {
        _burn(from, amountWh);
    }
}
