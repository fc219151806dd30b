Feature: Signing keys and the verifier's dependencies
  The authorization server rotates its signing keys without telling anyone: the server must pick
  up a newly published key by itself, within the window its profile declares, and keep
  accepting tokens signed with the previous key while that key is still published. When the
  server cannot reach what it verifies tokens with (the key set, the introspection endpoint), it
  fails closed: it never serves a token it could not verify.
  These scenarios change the authorization server for everyone, so each runs alone.

  @req-44 @should @serial @jwt @since-2025-03-26
  Scenario: A token signed with a newly rotated-in key is accepted within the declared window
    Given the server has accepted a valid token
    And the authorization server has rotated its signing key
    And a valid token
    When the client sends an initialize request, retrying for up to the declared key-cache window
    Then the server accepts it

  @req-44 @should @serial @jwt @since-2025-03-26
  Scenario: Tokens signed with the previous key keep working after a rotation
    Given the server has accepted a valid token
    When the authorization server rotates its signing key
    And the client sends an initialize request
    Then the server accepts it
    And the server accepts a token signed with the new key within the declared key-cache window

  @req-44 @should @serial @jwt @key-retirement @since-2025-03-26
  Scenario: A token signed with a key removed from the key set stops working within the declared cache age
    Given the server has accepted a valid token
    And the authorization server has rotated its signing key
    And the authorization server has removed the previous key from its key set
    When the client sends that token again, retrying for up to the declared key cache age
    Then the server rejects it with 401
    And the server accepts a token signed with the new key within the declared key-cache window

  @req-23 @must @serial @jwt @since-2025-03-26
  Scenario: A token the server cannot check against its cached keys is not served while the key set is down
    Given the server has accepted a valid token
    And a token signed under a kid that is in no JWKS
    When the client sends an initialize request while the authorization server's key set is unavailable
    Then the server does not serve it
    And the server serves valid tokens again once the key set is back

  @req-23 @must @serial @jwt @since-2025-03-26
  Scenario: A token signed with a newly rotated-in key is not served while the key set is down
    Given the server has accepted a valid token
    And the authorization server has rotated its signing key
    And a valid token
    When the client sends an initialize request while the authorization server's key set is unavailable
    Then the server does not serve it
    And the server accepts a token signed with the new key within the declared key-cache window

  @req-23 @must @serial @introspection @since-2025-03-26
  Scenario: A token is not served while the introspection endpoint is down
    Given a valid token
    When the client sends an initialize request while the authorization server's introspection endpoint is unavailable
    Then the server does not serve it
    And the server serves valid tokens again once the introspection endpoint is back
