Feature: Transport and sessions
  A session is a convenience, never a credential: every request carries its own token, a session
  serves only the user who opened it, its id cannot be guessed, a page on another web origin
  cannot drive the server, and the server's metadata points only to https or to this machine.

  @req-22 @must @since-2025-03-26
  Scenario: A notification without a token is refused even on an open session
    Given the client has opened a session with a valid token
    But no token
    When the client sends a notification on its session
    Then the server rejects it with 401

  @req-22 @must @stateful @since-2025-03-26
  Scenario: Opening the session's event stream without a token is refused
    Given the client has opened a session with a valid token
    But no token
    When the client opens its session's event stream
    Then the server rejects it with 401

  @req-22 @must @stateful @since-2025-03-26
  Scenario: Ending a session without a token is refused and leaves the session open
    Given the client has opened a session with a valid token
    But no token
    When the client ends its session
    Then the server rejects it with 401
    And the session still serves the user who opened it

  @req-45 @should @stateful @since-2025-06-18 @until-2025-11-25
  Scenario: Another user's token cannot use someone else's session
    Given the client has opened a session with a valid token
    And another user holds a valid token of their own
    When the other user lists the tools on the first user's session
    Then the server does not serve the session to the other user
    And the other user's token works on a session of their own
    And the session still serves the user who opened it

  @req-46 @must @stateful @since-2025-06-18
  Scenario: Session ids are unique, long and unpredictable
    Given a valid token
    When the client opens 8 sessions
    Then no two session ids are the same
    And every session id is at least 16 visible ASCII characters long
    And the session ids do not follow a sequence

  @req-47 @must @since-2025-03-26
  Scenario: A session id without a token does not authenticate
    Given the client has opened a session with a valid token
    But no token
    When the client lists the tools
    Then the server rejects it with 401

  @req-47 @must @since-2025-03-26
  Scenario: A session id with an invalid token does not authenticate
    Given the client has opened a session with a valid token
    But a token with a tampered signature
    When the client lists the tools
    Then the server rejects it with 401

  @req-47 @must @since-2025-03-26
  Scenario: A session id with an expired token does not authenticate
    Given the client has opened a session with a valid token
    But an expired token
    When the client lists the tools
    Then the server rejects it with 401

  @req-48 @should @since-2026-07-28
  Scenario: A stateless server mints no session id
    Given a valid token
    When the client lists the tools
    Then the server accepts it
    And the response carries no session id

  @req-48 @should @since-2026-07-28
  Scenario: A stateless server ignores a session id the client sends
    Given a valid token
    When the client lists the tools with a made-up session id
    Then the server accepts it
    And the response carries no session id

  @req-48 @should @since-2026-07-28
  Scenario: A subscription stream needs a token even with a session id
    Given no token
    When the client opens a subscription stream with a made-up session id
    Then the server rejects it with 401

  @req-49 @must @origin @since-2025-03-26
  Scenario: A request from a foreign web origin is refused even with a valid token
    Given the client has opened a session with a valid token
    When the client lists the tools from the web origin "http://evil.example"
    Then the server refuses the cross-origin request with 403

  @req-49 @must @origin @since-2025-03-26 @until-2025-11-25
  Scenario: A session cannot be opened from a foreign web origin
    Given a valid token
    When the client sends an initialize request from the web origin "http://evil.example"
    Then the server refuses the cross-origin request with 403

  @req-50 @must @since-2025-06-18
  Scenario: The metadata's URLs use https unless they point to this machine
    When the client fetches the protected resource metadata
    Then every URL in the metadata uses https or names a loopback host
