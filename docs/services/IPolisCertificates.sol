// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Polis certificates service (digital certificates, in the manner of BSN's DDC), at
///        0x00000000000000000000000000000000504c0003 on every app ledger.
/// @notice An issuer creates a collection and is the only one who can mint into it, freeze its tokens
///         and burn them from any holder (a revocation). A collection holds unique tokens (kind 0, as
///         ERC-721) or amounts of token ids (kind 1, as ERC-1155); each token id has a URI and a content
///         hash (the hash of the certified document). Holders transfer and burn what they hold, unless
///         the collection is not transferable or the token is frozen.
///
///         Each collection has an address: the low 20 bytes of keccak256("polis-collection" || id as
///         uint256). Its `Transfer` (kind 0) or `TransferSingle` and `URI` (kind 1) events, with the
///         standard ERC-721 / ERC-1155 signatures, and its `Frozen` / `Unfrozen` events are logged from
///         that address (mints come from the zero address, burns go to it). No code runs there: call
///         this service with the collection's id. `CollectionCreated` is logged from this service's address.
///
///         The caller is the immediate caller (an account or a contract). There are no approvals or
///         operators, and no receiver hooks: a contract holds certificates without implementing
///         onERC721Received / onERC1155Received. Names take 1 to 128 UTF-8 bytes, symbols up to 32,
///         URIs up to 2,048. A unique token id is issued once; once burned it is not issued again, and
///         its URI and content hash stay readable.
interface IPolisCertificates {
    event CollectionCreated(
        uint256 indexed collectionId,
        address indexed issuer,
        address indexed collectionAddress,
        uint8 kind,
        bool transferable,
        string name,
        string symbol
    );
    /// ERC-721, from the collection's address (kind 0).
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    /// ERC-1155, from the collection's address (kind 1); `operator` is the caller.
    event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value);
    /// ERC-1155, from the collection's address: a kind-1 token id's URI, when it is first minted with one.
    event URI(string value, uint256 indexed id);
    /// From the collection's address.
    event Frozen(uint256 indexed tokenId);
    event Unfrozen(uint256 indexed tokenId);

    /// Creates a collection issued by the caller; `kind` is 0 (unique tokens) or 1 (amounts).
    function createCollection(string calldata name, string calldata symbol, uint8 kind, bool transferable)
        external
        returns (uint256 collectionId, address collectionAddress);

    /// Issuer only. Kind 0: `amount` is 1 and `tokenId` was never issued. Kind 1: more units of an issued
    /// id keep its URI and hash (pass the same ones, or empty and zero).
    function mint(uint256 collectionId, address to, uint256 tokenId, uint256 amount, string calldata uri, bytes32 hash)
        external;

    /// Moves what the caller holds. Reverts if the collection is not transferable or the token is frozen.
    function transfer(uint256 collectionId, address to, uint256 tokenId, uint256 amount) external;

    /// Burns what the caller holds (a frozen token only by the issuer); the issuer burns a unique token
    /// wherever it is.
    function burn(uint256 collectionId, uint256 tokenId, uint256 amount) external;

    /// Issuer only: burns `from`'s units, frozen or not (a revocation).
    function burnFrom(uint256 collectionId, address from, uint256 tokenId, uint256 amount) external;

    /// Issuer only: a frozen token cannot be transferred, nor burned by its holder.
    function freeze(uint256 collectionId, uint256 tokenId) external;

    function unfreeze(uint256 collectionId, uint256 tokenId) external;

    /// `supply`: kind 0, tokens not burned; kind 1, units not burned.
    function collection(uint256 collectionId)
        external
        view
        returns (
            string memory name,
            string memory symbol,
            uint8 kind,
            bool transferable,
            address issuer,
            address collectionAddress,
            uint256 supply
        );

    /// Collections have ids 1 to collectionCount().
    function collectionCount() external view returns (uint256);

    /// The id of the collection at `collectionAddress`; 0 for none.
    function collectionAt(address collectionAddress) external view returns (uint256 collectionId);

    /// Kind 0 only.
    function ownerOf(uint256 collectionId, uint256 tokenId) external view returns (address);

    function balanceOf(uint256 collectionId, address holder, uint256 tokenId) external view returns (uint256);

    /// The number of distinct token ids `holder` has in the collection (with tokenOfOwnerByIndex: lookup by owner).
    function tokenCount(uint256 collectionId, address holder) external view returns (uint256);

    /// The order changes as tokens come and go: read a holder's ids at one block.
    function tokenOfOwnerByIndex(uint256 collectionId, address holder, uint256 index) external view returns (uint256);

    function tokenURI(uint256 collectionId, uint256 tokenId) external view returns (string memory);

    function contentHash(uint256 collectionId, uint256 tokenId) external view returns (bytes32);

    function isFrozen(uint256 collectionId, uint256 tokenId) external view returns (bool);
}
