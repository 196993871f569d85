// solidity-coverage settings: the mocks under contracts/test/ are not measured.
module.exports = {
  skipFiles: ["test/"],
};
