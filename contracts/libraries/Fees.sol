// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Fees: fee arithmetic of the market
/// @notice Fees are basis points of a sale, rounded down, so the payee of the remainder (the
/// publisher) receives every unit of dust and the sum of all shares equals what the buyer paid.
library Fees {
    uint256 internal constant BPS = 10_000;

    /// @notice `bps` basis points of `amount`, rounded down.
    function share(uint256 amount, uint256 bps) internal pure returns (uint256) {
        return amount * bps / BPS;
    }
}
