// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {IDataMarket} from "./interfaces/IDataMarket.sol";

/// @title Datatoken: the ERC-20 (with EIP-2612 permit) that is one dataset's access right
/// @notice Every dataset's datatoken is an EIP-1167 clone of one implementation, deployed by the market
/// with CREATE2, so its address depends on the publisher and a salt only. A new datatoken writes no
/// storage: its dataset index lives in the market's record of the dataset.
/// Only the market mints and burns; everything about the dataset lives in the market.
contract Datatoken is ERC20Permit {
    /// @notice The caller is not the market that deployed this datatoken.
    error DatatokenUnauthorized(address caller);
    /// @notice Minting would put more datatokens in circulation than the dataset's cap.
    error DatatokenCapExceeded(uint256 supply, uint256 cap);

    string private constant NAME = "Datamarket Datatoken";

    address private immutable _market;

    constructor() ERC20("", "") ERC20Permit(NAME) {
        _market = msg.sender;
    }

    modifier onlyMarket() {
        if (msg.sender != _market) revert DatatokenUnauthorized(msg.sender);
        _;
    }

    /// @notice The market that deployed this datatoken and keeps its dataset's record.
    function market() external view returns (address) {
        return _market;
    }

    /// @notice The dataset's index in its market (0, 1, 2, ... in publish order).
    function datasetIndex() public view returns (uint64) {
        return IDataMarket(_market).datasetIndex(address(this));
    }

    /// @notice The same for every datatoken; it is also the EIP-712 domain name used by permit.
    function name() public pure override returns (string memory) {
        return NAME;
    }

    /// @notice `DT-<index>`, unique within the market.
    function symbol() public view override returns (string memory) {
        return string.concat("DT-", Strings.toString(datasetIndex()));
    }

    /// @notice 0: one datatoken is one whole unit, and one order spends one.
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    /// @notice Mints `amount` whole datatokens to `to`; with a non-zero `cap`, the supply may not exceed it.
    function marketMint(address to, uint256 amount, uint256 cap) external onlyMarket {
        _mint(to, amount);
        uint256 supply = totalSupply();
        if (cap != 0 && supply > cap) revert DatatokenCapExceeded(supply, cap);
    }

    /// @notice Burns `amount` of `from`'s whole datatokens: how an order spends its token.
    function marketBurn(address from, uint256 amount) external onlyMarket {
        _burn(from, amount);
    }
}
