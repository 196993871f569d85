// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IDataMarket} from "../interfaces/IDataMarket.sol";

/// @notice Places two buyAndOrder orders (for the consumers their quotes name) in one transaction, paying
/// from its own balance: native value is split evenly between the two calls.
contract DoubleOrderer {
    IDataMarket public immutable market;

    constructor(IDataMarket market_) {
        market = market_;
    }

    /// @notice Lets the market pull this contract's `token` (price and provider fees in an ERC-20).
    function approve(IERC20 token) external {
        token.approve(address(market), type(uint256).max);
    }

    function orderTwice(
        IDataMarket.ProviderFee calldata first,
        bytes calldata firstSignature,
        IDataMarket.ProviderFee calldata second,
        bytes calldata secondSignature,
        address paymentToken,
        uint256 maxPrice
    ) external payable {
        uint256 each = msg.value / 2;
        bytes32[] memory noProof = new bytes32[](0);
        market.buyAndOrder{value: each}(first, firstSignature, noProof, paymentToken, maxPrice);
        market.buyAndOrder{value: msg.value - each}(second, secondSignature, noProof, paymentToken, maxPrice);
    }
}
