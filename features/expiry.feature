Feature: Token expiry
  A token is only good between its nbf and its exp. Once it has expired, no request is served
  with it, not even on a session it opened; a fresh token for the same user carries on.

  @req-39 @must @since-2025-03-26
  Scenario: An expired token is refused
    Given an expired token
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-40 @must @since-2025-03-26
  Scenario: A token that is not valid yet is refused
    Given a token whose nbf is in the future
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-41 @should @since-2025-03-26
  Scenario: A token that never expires is refused
    Given a token without exp
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-42 @must @stateful @since-2025-03-26
  Scenario: A session does not keep an expired token alive
    Given the client has opened a session with a token that later expires
    When the client sends its next request on that session after the token has expired
    Then the server rejects it with 401

  @req-42 @must @stateful @since-2025-03-26
  Scenario: After its token expired, the session goes on with a fresh token for the same user
    Given the client has opened a session with a token that later expires
    And the server has refused the expired token on that session
    When the client sends the next request on that session with a fresh token for the same user
    Then the server accepts it
