Feature: Authentication
  Only a genuine, well-formed token from the trusted authorization server, sent in the
  Authorization header, gets a request served.

  @req-13 @must @since-2025-03-26
  Scenario: A valid token is accepted
    Given a valid token
    When the client sends an initialize request
    Then the server accepts it

  @req-14 @must @since-2025-03-26
  Scenario: A token with a tampered signature is refused
    Given a token with a tampered signature
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-15 @must @since-2025-03-26
  Scenario: A token signed under an unknown kid is refused
    Given a token signed under a kid that is in no JWKS
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-15 @must @since-2025-03-26
  Scenario: A token signed by a key outside the JWKS is refused
    Given a token signed by a key that is not in the JWKS
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-16 @must @since-2025-03-26
  Scenario: An unsigned alg none token is refused
    Given an unsigned token with alg none
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-16 @must @since-2025-03-26
  Scenario: An HS256 token keyed with the public key is refused
    Given an HS256 token keyed with the authorization server's public key
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-17 @must @since-2025-03-26
  Scenario: A token from another issuer is refused
    Given a token from another issuer
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-18 @must @since-2025-03-26
  Scenario: Basic credentials are not a bearer token
    When the client sends the Authorization header "Basic bWNwOnNlY3JldA=="
    Then the server rejects it with 401 or 400

  @req-18 @must @since-2025-03-26
  Scenario: An empty bearer token is refused
    When the client sends the Authorization header "Bearer "
    Then the server rejects it with 401 or 400

  @req-18 @must @since-2025-03-26
  Scenario: A garbage bearer token is refused
    When the client sends the Authorization header "Bearer not-a-jwt"
    Then the server rejects it with 401 or 400

  @req-19 @should @since-2025-06-18
  Scenario: A refused token gets an invalid_token challenge with the metadata URL
    Given a token with a tampered signature
    When the client sends an initialize request
    Then the challenge says error="invalid_token"
    And the challenge points to the protected resource metadata

  @req-20 @must @since-2025-03-26
  Scenario: A token in the query string does not authenticate
    Given a valid token
    When the client sends the token in the query string instead of the header
    Then the server rejects it with 401

  @req-21 @should @since-2025-03-26
  Scenario: The auth scheme is case-insensitive
    Given a valid token
    When the client sends it with the scheme written "bearer"
    Then the server accepts it
