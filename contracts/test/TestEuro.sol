// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestEuro
/// @notice A 6-decimal euro stand-in (EURC-like) for local chains only, with an
/// open faucet. Production deployments pass a real stablecoin's address.
contract TestEuro is ERC20 {
    /// @notice What one faucet call mints: 1,000 tEUR.
    uint256 public constant FAUCET_AMOUNT = 1_000 * 10 ** 6;

    constructor() ERC20("Vatio Test Euro", "tEUR") {}

    /// @notice 6, like EURC.
    /// @return the number of decimals
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Gives 1,000 tEUR to `to`. Anyone may call it: it is test money.
    /// @param to the receiver
    function faucet(address to) external {
        _mint(to, FAUCET_AMOUNT);
    }
}
