// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";

/// @title EnergyToken
/// @notice The community's kWh token (1 base unit = 1 Wh), minted and burned
/// only by settlement. IEnergyToken documents it.
contract EnergyToken is ERC20, AccessControl, IEnergyToken {
    /// @inheritdoc IEnergyToken
    bytes32 public constant SETTLEMENT_ROLE = keccak256("SETTLEMENT_ROLE");

    constructor(address admin) ERC20("Vatio Energy kWh", "kWh") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice 3: one base unit is one Wh.
    /// @return the number of decimals
    function decimals() public pure override(ERC20, IERC20Metadata) returns (uint8) {
        return 3;
    }

    /// @inheritdoc IEnergyToken
    function mint(address to, uint256 amountWh) external onlyRole(SETTLEMENT_ROLE) {
        _mint(to, amountWh);
    }

    /// @inheritdoc IEnergyToken
    function burn(address from, uint256 amountWh) external onlyRole(SETTLEMENT_ROLE) {
        _burn(from, amountWh);
    }
}
