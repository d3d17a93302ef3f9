/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': 'ts-jest',
    // @middy/core 7 and commander 15 are ESM-only: let ts-jest turn them into CommonJS for jest.
    '^.+/node_modules/(@middy|commander)/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@middy/|commander/)'],
  moduleNameMapper: {
    '^@middy/core$': '<rootDir>/node_modules/@middy/core/index.js',
    '^commander$': '<rootDir>/node_modules/commander/index.js',
  },
  testTimeout: 60000,
};
